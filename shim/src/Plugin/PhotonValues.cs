// Photon's numbers (LoadBalancing operation, event, parameter and error
// codes, the well-known room keys), as PUN Classic and PUN 2 both use them,
// and the conversions between Photon's values and the library's bytes:
// keys and values go through Photon's own Protocol.Serialize, so the
// library keeps exactly what the game sent and never reads Protocol16.
using System;
using System.Collections;
using System.Collections.Generic;
using ExitGames.Client.Photon;
using Hashtable = ExitGames.Client.Photon.Hashtable;

namespace Propwash.Shim
{
    internal static class Op
    {
        public const byte Authenticate = 230, AuthenticateOnce = 231, JoinLobby = 229, LeaveLobby = 228;
        public const byte CreateGame = 227, JoinGame = 226, JoinRandomGame = 225, Leave = 254;
        public const byte RaiseEvent = 253, SetProperties = 252, GetProperties = 251, ChangeGroups = 248;
        public const byte FindFriends = 222, GetLobbyStats = 221, GetRegions = 220, WebRpc = 219, ServerSettings = 218, GetGameList = 217;
    }

    internal static class Ev
    {
        public const byte Join = 255, Leave = 254, PropertiesChanged = 253, GameList = 230, GameListUpdate = 229;
    }

    internal static class Param
    {
        public const byte RoomName = 255, ActorNr = 254, TargetActorNr = 253, ActorList = 252, Properties = 251;
        public const byte Broadcast = 250, PlayerProperties = 249, GameProperties = 248, Cache = 247, ReceiverGroup = 246;
        public const byte Data = 245, Code = 244, CleanupCacheOnLeave = 241, Group = 240, Remove = 239, Add = 238;
        public const byte ExpectedValues = 231, Address = 230, UserId = 225, GameList = 222, Secret = 221;
        public const byte JoinMode = 215, Region = 210, MasterClientId = 203, RoomOptionFlags = 191;
        public const byte FindFriendsRequestList = 1, FindFriendsResponseOnlineList = 1, FindFriendsResponseRoomIdList = 2;
    }

    /// <summary>The room's well-known properties (byte keys).</summary>
    internal static class RoomKey
    {
        public const byte MaxPlayers = 255, IsVisible = 254, IsOpen = 253, PlayerCount = 252, Removed = 251;
        public const byte PropsListedInLobby = 250, CleanupCacheOnLeave = 249, MasterClientId = 248;
    }

    internal static class ErrorCode
    {
        public const short Ok = 0, InternalServerError = -1, InvalidOperation = -2;
        public const short GameIdAlreadyExists = 32766, GameFull = 32765, GameClosed = 32764;
        public const short NoRandomMatchFound = 32760, GameDoesNotExist = 32758;
    }

    /// <summary>PUN's event codes the translator looks at.</summary>
    internal static class PunEvent
    {
        /// <summary>View serialization, unreliable.</summary>
        public const byte SendSerialize = 201;
    }

    internal static class PhotonValues
    {
        /// <summary>The game's bytes for a key or value.</summary>
        public static byte[] Bytes(object value)
        {
            return Protocol.Serialize(value);
        }

        /// <summary>Bytes back to the value; null bytes (a removed value) are null.</summary>
        public static object Value(byte[] bytes)
        {
            return bytes == null ? null : Protocol.Deserialize(bytes);
        }

        /// <summary>
        /// A key the game set (a string or a byte, as Photon's properties are keyed), or false for
        /// bytes that are not one (a property the library itself set, in text).
        /// </summary>
        public static bool TryKey(byte[] bytes, out object key)
        {
            key = null;
            try
            {
                object k = Protocol.Deserialize(bytes);
                if (!(k is string) && !(k is byte)) return false;
                byte[] again = Protocol.Serialize(k);
                if (again.Length != bytes.Length) return false;
                for (int i = 0; i < again.Length; i++)
                {
                    if (again[i] != bytes[i]) return false;
                }
                key = k;
                return true;
            }
            catch (Exception)
            {
                return false;
            }
        }

        /// <summary>The entries of a props layout the game can read, as a Hashtable (a removed value is null).</summary>
        public static Hashtable Table(List<Prop> props, Action<string> skipped)
        {
            Hashtable t = new Hashtable();
            foreach (Prop p in props)
            {
                object key;
                if (!TryKey(p.Key, out key))
                {
                    continue;
                }
                try
                {
                    t[key] = Value(p.Value);
                }
                catch (Exception e)
                {
                    if (skipped != null) skipped("the value of property " + key + " could not be read: " + e.Message);
                }
            }
            return t;
        }

        /// <summary>Every entry of a Photon table as props (null values become removals).</summary>
        public static List<Prop> Props(IDictionary table)
        {
            List<Prop> props = new List<Prop>();
            if (table == null) return props;
            foreach (DictionaryEntry e in table)
            {
                if (e.Key == null) continue;
                props.Add(new Prop(Bytes(e.Key), e.Value == null ? null : Bytes(e.Value)));
            }
            return props;
        }

        /// <summary>
        /// Splits a room's properties as the game sends them: the well-known keys the room acts
        /// on become settings (max players, open, visible, master client); the server's own
        /// (player count, removed) are dropped; everything else stays the game's bytes.
        /// </summary>
        public static List<Prop> SplitRoom(IDictionary table, ref SettingsChange settings)
        {
            List<Prop> props = new List<Prop>();
            if (table == null) return props;
            foreach (DictionaryEntry e in table)
            {
                if (e.Key is byte)
                {
                    byte k = (byte)e.Key;
                    try
                    {
                        switch (k)
                        {
                            case RoomKey.MaxPlayers:
                                settings.MaxPlayers = Convert.ToByte(e.Value);
                                settings.Mask |= SettingsChange.MaxPlayersBit;
                                continue;
                            case RoomKey.IsOpen:
                                settings.Open = Convert.ToBoolean(e.Value);
                                settings.Mask |= SettingsChange.OpenBit;
                                continue;
                            case RoomKey.IsVisible:
                                settings.Visible = Convert.ToBoolean(e.Value);
                                settings.Mask |= SettingsChange.VisibleBit;
                                continue;
                            case RoomKey.MasterClientId:
                                settings.Master = Convert.ToUInt32(e.Value);
                                settings.Mask |= SettingsChange.MasterBit;
                                continue;
                            case RoomKey.PlayerCount:
                            case RoomKey.Removed:
                                continue;
                        }
                    }
                    catch (Exception ex)
                    {
                        throw new ArgumentException("room property " + k + " has a value of the wrong kind: " + ex.Message);
                    }
                }
                if (e.Key == null) continue;
                props.Add(new Prop(Bytes(e.Key), e.Value == null ? null : Bytes(e.Value)));
            }
            return props;
        }

        /// <summary>The room's properties as Photon hands them to a joiner: the settings as well-known keys, then the rest.</summary>
        public static Hashtable GameProperties(byte maxPlayers, bool open, bool visible, bool cleanup, uint master, List<Prop> props, Action<string> skipped)
        {
            Hashtable t = Table(props, skipped);
            t[RoomKey.MaxPlayers] = maxPlayers;
            t[RoomKey.IsOpen] = open;
            t[RoomKey.IsVisible] = visible;
            t[RoomKey.CleanupCacheOnLeave] = cleanup;
            if (master != 0) t[RoomKey.MasterClientId] = (int)master;
            return t;
        }

        /// <summary>A settings change as the well-known keys of a PropertiesChanged event.</summary>
        public static void AddSettings(Hashtable t, SettingsChange s)
        {
            if ((s.Mask & SettingsChange.MaxPlayersBit) != 0) t[RoomKey.MaxPlayers] = s.MaxPlayers;
            if ((s.Mask & SettingsChange.OpenBit) != 0) t[RoomKey.IsOpen] = s.Open;
            if ((s.Mask & SettingsChange.VisibleBit) != 0) t[RoomKey.IsVisible] = s.Visible;
            if ((s.Mask & SettingsChange.MasterBit) != 0) t[RoomKey.MasterClientId] = (int)s.Master;
        }

        /// <summary>
        /// The top-level entries of an event's content that are small enough to match a cache
        /// filter later (PUN filters instantiations by key 7 and RPCs by key 0).
        /// </summary>
        public static byte[] FilterKeys(object content)
        {
            IDictionary t = content as IDictionary;
            if (t == null) return null;
            List<Prop> keys = new List<Prop>();
            foreach (DictionaryEntry e in t)
            {
                if (e.Key == null || e.Value == null) continue;
                byte[] k = Bytes(e.Key);
                byte[] v = Bytes(e.Value);
                if (k.Length <= 255 && v.Length <= 255) keys.Add(new Prop(k, v));
            }
            return RoomCodec.FilterKeys(keys);
        }

        /// <summary>
        /// The slot of an unreliable event: PUN's view updates (event 201) carry one object[] per
        /// view from key 10 on, the view id first; a newer update of the same views replaces one
        /// still waiting. 0 (never replaced) for anything else.
        /// </summary>
        public static uint Slot(byte code, byte group, object content)
        {
            IDictionary t = content as IDictionary;
            if (code != PunEvent.SendSerialize || t == null || !t.Contains((byte)10)) return 0;
            object[] first = t[(byte)10] as object[];
            if (first == null || first.Length == 0 || !(first[0] is int)) return 0;
            unchecked
            {
                return ((uint)(int)first[0] * 257u + group) | 0x80000000u;
            }
        }

        public static int[] Ints(object value)
        {
            return value as int[];
        }
    }
}
