// The Harmony prefixes named by the hook table. Each maps one Photon entry
// point onto the RoomBridge and returns false to skip Photon's own code (its
// servers are gone), except where noted. Arguments are read positionally
// from __args so that one prefix fits every overload and both PUN 2 and PUN
// Classic argument lists; return values go through a typed __result, so a
// target whose return type differs fails to patch (a logged warning) rather
// than misbehaving (CurrentRoom's, a PUN type, goes through object). Everything runs on the caller's thread: Unity's main one.
using System;
using System.Collections;

namespace Propwash.Shim
{
    internal static class PhotonPatches
    {
        /// <summary>Set by the plugin before the hooks are installed.</summary>
        internal static RoomBridge Room;

        private static bool Active
        {
            get { return Room != null; }
        }

        private static string StringArg(object[] args, int index)
        {
            return args != null && args.Length > index ? args[index] as string : null;
        }

        /// <summary>PUN 2 / Classic RoomOptions: the argument that has CustomRoomProperties, wherever it sits.</summary>
        private static object RoomOptionsArg(object[] args)
        {
            for (int i = 1; args != null && i < args.Length; i++)
            {
                if (args[i] != null && (PhotonGlue.HasMember(args[i], "CustomRoomProperties") || PhotonGlue.HasMember(args[i], "customRoomProperties")))
                {
                    return args[i];
                }
            }
            return null;
        }

        /// <summary>The first Hashtable argument (JoinRandomRoom's expectedCustomRoomProperties).</summary>
        private static IDictionary DictionaryArg(object[] args)
        {
            for (int i = 0; args != null && i < args.Length; i++)
            {
                IDictionary d = args[i] as IDictionary;
                if (d != null) return d;
            }
            return null;
        }

        private static bool Connect(ref bool __result)
        {
            if (!Active) return true;
            __result = Room.Connect();
            return false;
        }

        private static bool CreateRoom(object[] __args, ref bool __result)
        {
            if (!Active) return true;
            __result = Room.CreateRoom(StringArg(__args, 0), RoomOptionsArg(__args));
            return false;
        }

        private static bool JoinRoom(object[] __args, ref bool __result)
        {
            if (!Active) return true;
            __result = Room.JoinRoom(StringArg(__args, 0));
            return false;
        }

        private static bool JoinOrCreateRoom(object[] __args, ref bool __result)
        {
            if (!Active) return true;
            __result = Room.JoinOrCreateRoom(StringArg(__args, 0), RoomOptionsArg(__args));
            return false;
        }

        private static bool JoinRandomRoom(object[] __args, ref bool __result)
        {
            if (!Active) return true;
            __result = Room.JoinRandomRoom(DictionaryArg(__args));
            return false;
        }

        private static bool JoinLobby(ref bool __result)
        {
            if (!Active) return true;
            __result = Room.JoinLobby();
            return false;
        }

        private static bool LeaveLobby(ref bool __result)
        {
            if (!Active) return true;
            __result = Room.LeaveLobby();
            return false;
        }

        private static bool LeaveRoom(ref bool __result)
        {
            if (!Active) return true;
            __result = Room.LeaveRoom();
            return false;
        }

        private static bool Disconnect()
        {
            if (!Active) return true;
            Room.Disconnect();
            return false;
        }

        /// <summary>
        /// PUN 2: RaiseEvent(byte code, object content, RaiseEventOptions, SendOptions);
        /// PUN Classic: RaiseEvent(byte code, object content, bool reliable, RaiseEventOptions).
        /// The options are found by their members (Receivers, TargetActors), not their position.
        /// </summary>
        private static bool RaiseEvent(object[] __args, ref bool __result)
        {
            if (!Active) return true;
            if (__args == null || __args.Length < 2 || !(__args[0] is byte))
            {
                Room.Warn("RaiseEvent: unexpected arguments; the event was not sent");
                __result = false;
                return false;
            }
            object options = null;
            for (int i = 2; i < __args.Length && options == null; i++)
            {
                if (__args[i] != null && PhotonGlue.HasMember(__args[i], "Receivers"))
                {
                    options = __args[i];
                }
            }
            __result = Room.RaiseEvent((byte)__args[0], __args[1], options);
            return false;
        }

        private static bool RoomSetCustomProperties(object[] __args, ref bool __result)
        {
            if (!Active) return true;
            __result = Room.SetRoomProperties(__args != null && __args.Length > 0 ? __args[0] as IDictionary : null);
            return false;
        }

        private static bool PlayerSetCustomProperties(object __instance, object[] __args, ref bool __result)
        {
            if (!Active) return true;
            __result = Room.SetPlayerProperties(__instance, __args != null && __args.Length > 0 ? __args[0] as IDictionary : null);
            return false;
        }

        /// <summary>Outside a room Photon's own getter answers.</summary>
        private static bool Time(ref double __result)
        {
            if (!Active || !Room.HasClock) return true;
            __result = Room.HostTime();
            return false;
        }

        private static bool ServerTimestamp(ref int __result)
        {
            if (!Active || !Room.HasClock) return true;
            __result = unchecked((int)(long)(Room.HostTime() * 1000.0));
            return false;
        }

        /// <summary>Observed only: Photon still stores the value, so its getter stays right.</summary>
        private static bool SendRate(object[] __args)
        {
            if (Active && __args != null && __args.Length > 0 && __args[0] is int)
            {
                Room.GameSendRate = (int)__args[0];
            }
            return true;
        }

        private static bool SerializationRate(object[] __args)
        {
            if (Active && __args != null && __args.Length > 0 && __args[0] is int)
            {
                Room.GameSerializationRate = (int)__args[0];
            }
            return true;
        }

        private static bool InRoom(ref bool __result)
        {
            if (!Active) return true;
            __result = Room.InRoom;
            return false;
        }

        private static bool InLobby(ref bool __result)
        {
            if (!Active) return true;
            __result = Room.InLobby;
            return false;
        }

        /// <summary>
        /// PhotonNetwork.CurrentRoom returns PUN's Room, a type the plugin does not compile against:
        /// the result is taken as object. Outside a propwash room (or when no Room could be built)
        /// Photon's own getter answers.
        /// </summary>
        private static bool CurrentRoom(ref object __result)
        {
            if (!Active) return true;
            object room = Room.PhotonRoom;
            if (room == null) return true;
            __result = room;
            return false;
        }

        private static bool IsMasterClient(ref bool __result)
        {
            if (!Active) return true;
            __result = Room.IsHost;
            return false;
        }

        private static bool IsConnected(ref bool __result)
        {
            if (!Active) return true;
            __result = Room.Connected;
            return false;
        }

        /// <summary>In a propwash room the drones travel as pilot frames; Photon's view serialization is skipped.</summary>
        private static bool ViewSync()
        {
            return !Active || !Room.InRoom;
        }
    }
}
