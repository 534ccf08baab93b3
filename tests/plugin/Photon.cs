// FAKE PUN 2 for tests/plugin.rs: the Photon types Propwash.Shim finds by
// name (its default [Hooks] and [Photon] config) with PUN 2's shapes:
// PhotonNetwork's hooked entry points, Room / Player SetCustomProperties,
// RoomOptions, RaiseEventOptions, EventData, Hashtable, RoomInfo's
// (string, Hashtable) constructor, Room's (string, RoomOptions, bool) one
// (PhotonNetwork.CurrentRoom), Protocol.Serialize/Deserialize, and the
// LoadBalancingClient.EventReceived event. A hooked method runs its Harmony
// prefixes (the fake 0Harmony's Harmony.Call); when they let the original
// run, the original does what PUN does offline (nothing, false) and is
// counted in PhotonNetwork.Originals. Compiled into the test program.
using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Serialization.Formatters.Binary;
using HarmonyLib;

namespace ExitGames.Client.Photon
{
    /// <summary>Photon's Hashtable: a Dictionary whose indexer gives null for a missing key.</summary>
    public class Hashtable : Dictionary<object, object>
    {
        public new object this[object key]
        {
            get
            {
                object v;
                return TryGetValue(key, out v) ? v : null;
            }
            set { base[key] = value; }
        }
    }

    /// <summary>PUN 2's (older) EventData: Parameters starts null and is filled by whoever builds it.</summary>
    public class EventData
    {
        public byte Code;
        public Dictionary<byte, object> Parameters;

        public object CustomData
        {
            get { return Get(245); }
        }

        public int Sender
        {
            get
            {
                object s = Get(254);
                return s == null ? -1 : (int)s;
            }
        }

        private object Get(byte key)
        {
            object v;
            return Parameters != null && Parameters.TryGetValue(key, out v) ? v : null;
        }
    }

    /// <summary>Photon's serializer, faked with BinaryFormatter (both ends are this fake).</summary>
    public static class Protocol
    {
        public static byte[] Serialize(object obj)
        {
            using (MemoryStream m = new MemoryStream())
            {
                new BinaryFormatter().Serialize(m, obj);
                return m.ToArray();
            }
        }

        public static object Deserialize(byte[] serializedData)
        {
            using (MemoryStream m = new MemoryStream(serializedData))
            {
                return new BinaryFormatter().Deserialize(m);
            }
        }
    }

    public struct SendOptions
    {
        public static readonly SendOptions SendReliable = new SendOptions { Reliability = true };
        public static readonly SendOptions SendUnreliable = new SendOptions { Reliability = false };

        public bool Reliability { get; set; }
        public byte Channel;
    }
}

namespace Photon.Realtime
{
    using ExitGames.Client.Photon;

    public enum LobbyType : byte { Default = 0, SqlLobby = 2, AsyncRandomLobby = 3 }
    public enum MatchmakingMode : byte { FillRoom = 0, SerialMatching = 1, RandomMatching = 2 }
    public enum ReceiverGroup : byte { Others = 0, All = 1, MasterClient = 2 }
    public enum EventCaching : byte { DoNotCache = 0, AddToRoomCache = 4, AddToRoomCacheGlobal = 5 }

    public enum DisconnectCause
    {
        None, ExceptionOnConnect, DnsExceptionOnConnect, ServerAddressInvalid, Exception, ServerTimeout, ClientTimeout,
        DisconnectByServerLogic, DisconnectByServerReasonUnknown, InvalidAuthentication, CustomAuthenticationFailed,
        AuthenticationTicketExpired, MaxCcuReached, InvalidRegion, OperationNotAllowedInCurrentState, DisconnectByClientLogic,
    }

    public class TypedLobby
    {
        public static readonly TypedLobby Default = new TypedLobby();
        public string Name;
        public LobbyType Type;
    }

    public class WebFlags
    {
    }

    public class RoomOptions
    {
        public bool IsVisible = true;
        public bool IsOpen = true;
        public byte MaxPlayers;
        public Hashtable CustomRoomProperties;
        public string[] CustomRoomPropertiesForLobby = new string[0];
    }

    public class RaiseEventOptions
    {
        public static readonly RaiseEventOptions Default = new RaiseEventOptions();
        public EventCaching CachingOption;
        public byte InterestGroup;
        public int[] TargetActors;
        public ReceiverGroup Receivers;
    }

    /// <summary>PUN 2's RoomInfo: the (string, Hashtable) constructor reads Photon's well-known byte keys.</summary>
    public class RoomInfo
    {
        public bool RemovedFromList;
        private readonly Hashtable customProperties = new Hashtable();
        protected byte maxPlayers;
        protected bool isOpen = true;
        protected bool isVisible = true;
        protected string name;

        protected internal RoomInfo(string roomName, Hashtable roomProperties)
        {
            InternalCacheProperties(roomProperties);
            name = roomName;
        }

        public Hashtable CustomProperties { get { return customProperties; } }
        public string Name { get { return name; } }
        public int PlayerCount { get; private set; }
        public byte MaxPlayers { get { return maxPlayers; } }
        public bool IsOpen { get { return isOpen; } }
        public bool IsVisible { get { return isVisible; } }

        protected internal virtual void InternalCacheProperties(Hashtable propertiesToCache)
        {
            if (propertiesToCache == null || propertiesToCache.Count == 0) return;
            if (propertiesToCache.ContainsKey((byte)251))
            {
                RemovedFromList = (bool)propertiesToCache[(byte)251];
                if (RemovedFromList) return;
            }
            if (propertiesToCache.ContainsKey((byte)255)) maxPlayers = (byte)propertiesToCache[(byte)255];
            if (propertiesToCache.ContainsKey((byte)253)) isOpen = (bool)propertiesToCache[(byte)253];
            if (propertiesToCache.ContainsKey((byte)254)) isVisible = (bool)propertiesToCache[(byte)254];
            if (propertiesToCache.ContainsKey((byte)252)) PlayerCount = (byte)propertiesToCache[(byte)252];
            foreach (KeyValuePair<object, object> kv in propertiesToCache)
            {
                if (kv.Key is string && kv.Value != null) customProperties[kv.Key] = kv.Value;
            }
        }

        public override string ToString()
        {
            return "Room: '" + name + "' " + (isVisible ? "visible" : "hidden") + "," + (isOpen ? "open" : "closed") + " " + maxPlayers + " players.";
        }
    }

    public class Room : RoomInfo
    {
        public Room(string roomName, RoomOptions options, bool isOffline = false)
            : base(roomName, options != null ? options.CustomRoomProperties : null)
        {
            // As PUN 2: base() takes the name and custom properties, this the "well known" ones.
            if (options != null)
            {
                isVisible = options.IsVisible;
                isOpen = options.IsOpen;
                maxPlayers = options.MaxPlayers;
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public virtual bool SetCustomProperties(Hashtable propertiesToSet, Hashtable expectedProperties = null, WebFlags webFlags = null)
        {
            return (bool)Harmony.Call(MethodBase.GetCurrentMethod(), this, new object[] { propertiesToSet, expectedProperties, webFlags },
                () => Photon.Pun.PhotonNetwork.Original("Room.SetCustomProperties", false));
        }
    }

    public class Player
    {
        public Player(int actorNumber, bool isLocal)
        {
            ActorNumber = actorNumber;
            IsLocal = isLocal;
        }

        public int ActorNumber { get; private set; }
        public bool IsLocal { get; private set; }
        public string NickName = "";
        public readonly Hashtable CustomProperties = new Hashtable();

        [MethodImpl(MethodImplOptions.NoInlining)]
        public bool SetCustomProperties(Hashtable propertiesToSet, Hashtable expectedValues = null, WebFlags webFlags = null)
        {
            return (bool)Harmony.Call(MethodBase.GetCurrentMethod(), this, new object[] { propertiesToSet, expectedValues, webFlags },
                () => Photon.Pun.PhotonNetwork.Original("Player.SetCustomProperties", false));
        }
    }

    public class LoadBalancingClient
    {
        public event Action<EventData> EventReceived;

        public readonly Player LocalPlayer = new Player(-1, true);

        public bool HasEventListeners
        {
            get { return EventReceived != null; }
        }
    }
}

namespace Photon.Pun
{
    using ExitGames.Client.Photon;
    using Photon.Realtime;

    /// <summary>PUN 2's PhotonNetwork, as far as the hook table reaches; offline, as with Photon's servers gone.</summary>
    public static class PhotonNetwork
    {
        public static LoadBalancingClient NetworkingClient = new LoadBalancingClient();

        /// <summary>Not PUN: every original PUN body that ran (its prefix let it, or there was none).</summary>
        public static readonly List<string> Originals = new List<string>();

        private static int sendRate = 30, serializationRate = 10;

        internal static T Original<T>(string what, T result)
        {
            Originals.Add(what);
            return result;
        }

        private static T Hooked<T>(MethodBase m, object[] args, string what, T offline)
        {
            return (T)Harmony.Call(m, null, args, () => Original(what, offline));
        }

        private static void HookedVoid(MethodBase m, object[] args, string what, Action body)
        {
            Harmony.Call(m, null, args, () =>
            {
                Originals.Add(what);
                body();
                return null;
            });
        }

        /// <summary>Offline PUN answers null (no Photon room); propwash's CurrentRoom hook answers in its rooms.</summary>
        public static Room CurrentRoom
        {
            [MethodImpl(MethodImplOptions.NoInlining)]
            get { return Hooked(MethodBase.GetCurrentMethod(), new object[0], "get_CurrentRoom", (Room)null); }
        }

        public static Player LocalPlayer
        {
            get { return NetworkingClient.LocalPlayer; }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static bool ConnectUsingSettings()
        {
            return Hooked(MethodBase.GetCurrentMethod(), new object[0], "ConnectUsingSettings", false);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static bool CreateRoom(string roomName, RoomOptions roomOptions = null, TypedLobby typedLobby = null, string[] expectedUsers = null)
        {
            return Hooked(MethodBase.GetCurrentMethod(), new object[] { roomName, roomOptions, typedLobby, expectedUsers }, "CreateRoom", false);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static bool JoinRoom(string roomName, string[] expectedUsers = null)
        {
            return Hooked(MethodBase.GetCurrentMethod(), new object[] { roomName, expectedUsers }, "JoinRoom", false);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static bool JoinOrCreateRoom(string roomName, RoomOptions roomOptions, TypedLobby typedLobby, string[] expectedUsers = null)
        {
            return Hooked(MethodBase.GetCurrentMethod(), new object[] { roomName, roomOptions, typedLobby, expectedUsers }, "JoinOrCreateRoom", false);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static bool JoinRandomRoom()
        {
            return Hooked(MethodBase.GetCurrentMethod(), new object[0], "JoinRandomRoom", false);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static bool JoinRandomRoom(Hashtable expectedCustomRoomProperties, byte expectedMaxPlayers)
        {
            return Hooked(MethodBase.GetCurrentMethod(), new object[] { expectedCustomRoomProperties, expectedMaxPlayers }, "JoinRandomRoom", false);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static bool JoinRandomRoom(Hashtable expectedCustomRoomProperties, byte expectedMaxPlayers, MatchmakingMode matchingType, TypedLobby typedLobby, string sqlLobbyFilter, string[] expectedUsers = null)
        {
            return Hooked(MethodBase.GetCurrentMethod(), new object[] { expectedCustomRoomProperties, expectedMaxPlayers, matchingType, typedLobby, sqlLobbyFilter, expectedUsers }, "JoinRandomRoom", false);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static bool JoinLobby()
        {
            return Hooked(MethodBase.GetCurrentMethod(), new object[0], "JoinLobby", false);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static bool JoinLobby(TypedLobby typedLobby)
        {
            return Hooked(MethodBase.GetCurrentMethod(), new object[] { typedLobby }, "JoinLobby", false);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static bool LeaveLobby()
        {
            return Hooked(MethodBase.GetCurrentMethod(), new object[0], "LeaveLobby", false);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static bool LeaveRoom(bool becomeInactive = true)
        {
            return Hooked(MethodBase.GetCurrentMethod(), new object[] { becomeInactive }, "LeaveRoom", false);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static void Disconnect()
        {
            HookedVoid(MethodBase.GetCurrentMethod(), new object[0], "Disconnect", () => { });
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static bool RaiseEvent(byte eventCode, object eventContent, RaiseEventOptions raiseEventOptions, SendOptions sendOptions)
        {
            return Hooked(MethodBase.GetCurrentMethod(), new object[] { eventCode, eventContent, raiseEventOptions, sendOptions }, "RaiseEvent", false);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        internal static void RunViewUpdate()
        {
            HookedVoid(MethodBase.GetCurrentMethod(), new object[0], "RunViewUpdate", () => { });
        }

        /// <summary>Offline PUN answers NaN here (a sentinel: PUN's own clock would give a number).</summary>
        public static double Time
        {
            [MethodImpl(MethodImplOptions.NoInlining)]
            get { return Hooked(MethodBase.GetCurrentMethod(), new object[0], "get_Time", double.NaN); }
        }

        /// <summary>Offline PUN answers int.MinValue here (a sentinel).</summary>
        public static int ServerTimestamp
        {
            [MethodImpl(MethodImplOptions.NoInlining)]
            get { return Hooked(MethodBase.GetCurrentMethod(), new object[0], "get_ServerTimestamp", int.MinValue); }
        }

        public static int SendRate
        {
            get { return sendRate; }
            [MethodImpl(MethodImplOptions.NoInlining)]
            set { HookedVoid(MethodBase.GetCurrentMethod(), new object[] { value }, "set_SendRate", () => sendRate = value); }
        }

        public static int SerializationRate
        {
            get { return serializationRate; }
            [MethodImpl(MethodImplOptions.NoInlining)]
            set { HookedVoid(MethodBase.GetCurrentMethod(), new object[] { value }, "set_SerializationRate", () => serializationRate = value); }
        }

        public static bool InRoom
        {
            [MethodImpl(MethodImplOptions.NoInlining)]
            get { return Hooked(MethodBase.GetCurrentMethod(), new object[0], "get_InRoom", false); }
        }

        public static bool InLobby
        {
            [MethodImpl(MethodImplOptions.NoInlining)]
            get { return Hooked(MethodBase.GetCurrentMethod(), new object[0], "get_InLobby", false); }
        }

        public static bool IsMasterClient
        {
            [MethodImpl(MethodImplOptions.NoInlining)]
            get { return Hooked(MethodBase.GetCurrentMethod(), new object[0], "get_IsMasterClient", false); }
        }

        public static bool IsConnected
        {
            [MethodImpl(MethodImplOptions.NoInlining)]
            get { return Hooked(MethodBase.GetCurrentMethod(), new object[0], "get_IsConnected", false); }
        }

        public static bool IsConnectedAndReady
        {
            [MethodImpl(MethodImplOptions.NoInlining)]
            get { return Hooked(MethodBase.GetCurrentMethod(), new object[0], "get_IsConnectedAndReady", false); }
        }

        /// <summary>Not PUN: PhotonHandler's per-frame view update, as the test's game loop calls it.</summary>
        public static void ViewUpdateFromLoop()
        {
            RunViewUpdate();
        }
    }
}
