// The hook table: which Photon method each replacement patches. Which PUN
// version DRL ships is not confirmed, so every target is a config entry
// ("Type:Method", every overload of that name is patched; empty disables the
// hook) with a PUN 2 default. A missing type or method, or a signature the
// prefix cannot bind to, is logged as a warning and skipped: the game still
// starts, it just keeps Photon's behaviour for that call.
using System;
using System.Collections.Generic;
using System.Reflection;
using BepInEx.Configuration;
using BepInEx.Logging;
using HarmonyLib;

namespace Propwash.Shim
{
    internal sealed class HookSpec
    {
        public readonly string Id;
        public readonly string DefaultTarget;
        public readonly string Prefix;
        public readonly string Description;
        public ConfigEntry<string> Target;

        public HookSpec(string id, string defaultTarget, string prefix, string description)
        {
            Id = id;
            DefaultTarget = defaultTarget;
            Prefix = prefix;
            Description = description;
        }
    }

    internal static class HookTable
    {
        private const string Pun = "Photon.Pun.PhotonNetwork";

        /// <summary>One entry per hook: id, PUN 2 default target, prefix in PhotonPatches, what it does.</summary>
        public static readonly HookSpec[] All =
        {
            new HookSpec("Connect", Pun + ":ConnectUsingSettings", "Connect", "Connecting to Photon's cloud: answered locally (OnConnectedToMaster), no network yet."),
            new HookSpec("CreateRoom", Pun + ":CreateRoom", "CreateRoom", "Creating a room: hosts a propwash room on Network.GamePort, listed at Network.Coordinator when set."),
            new HookSpec("JoinRoom", Pun + ":JoinRoom", "JoinRoom", "Joining a room: a room of the room list (by name) or a session id through the coordinator; the room name if it is ip:port; else Network.JoinAddress."),
            new HookSpec("JoinOrCreateRoom", Pun + ":JoinOrCreateRoom", "JoinOrCreateRoom", "Joins when a listed room or an address is known, else hosts."),
            new HookSpec("JoinRandomRoom", Pun + ":JoinRandomRoom", "JoinRandomRoom", "Joins the first open room the coordinator lists (Network.Coordinator); without one Network.JoinAddress."),
            new HookSpec("JoinLobby", Pun + ":JoinLobby", "JoinLobby", "Photon's lobby: OnJoinedLobby, then the coordinator's rooms as OnRoomListUpdate (PUN 2 RoomInfo), refreshed every Lobby.RefreshSeconds."),
            new HookSpec("LeaveLobby", Pun + ":LeaveLobby", "LeaveLobby", "Leaves Photon's lobby (OnLeftLobby); the room list stops."),
            new HookSpec("LeaveRoom", Pun + ":LeaveRoom", "LeaveRoom", "Leaves the propwash room (a host closes it)."),
            new HookSpec("Disconnect", Pun + ":Disconnect", "Disconnect", "Leaves and forgets the session."),
            new HookSpec("RaiseEvent", Pun + ":RaiseEvent", "RaiseEvent", "Game events: sent reliably through the room (receivers, target actors)."),
            new HookSpec("RoomSetCustomProperties", "Photon.Realtime.Room:SetCustomProperties", "RoomSetCustomProperties", "Room properties (host only in propwash)."),
            new HookSpec("PlayerSetCustomProperties", "Photon.Realtime.Player:SetCustomProperties", "PlayerSetCustomProperties", "The local player's properties."),
            new HookSpec("Time", Pun + ":get_Time", "Time", "PhotonNetwork.Time: the host clock, seconds."),
            new HookSpec("ServerTimestamp", Pun + ":get_ServerTimestamp", "ServerTimestamp", "PhotonNetwork.ServerTimestamp: the host clock, milliseconds (wrapping int)."),
            new HookSpec("SendRate", Pun + ":set_SendRate", "SendRate", "Observes the game's SendRate (Photon still stores it)."),
            new HookSpec("SerializationRate", Pun + ":set_SerializationRate", "SerializationRate", "Observes the game's SerializationRate (see Rates.FollowGameRates)."),
            new HookSpec("InRoom", Pun + ":get_InRoom", "InRoom", "PhotonNetwork.InRoom: true while seated in a propwash room."),
            new HookSpec("InLobby", Pun + ":get_InLobby", "InLobby", "PhotonNetwork.InLobby: true after JoinLobby until LeaveLobby or a room."),
            new HookSpec("CurrentRoom", Pun + ":get_CurrentRoom", "CurrentRoom", "PhotonNetwork.CurrentRoom: in a propwash room, a Photon Room (Photon.RoomType) with the room's name and CustomProperties, kept current; outside one Photon's own getter."),
            new HookSpec("IsMasterClient", Pun + ":get_IsMasterClient", "IsMasterClient", "PhotonNetwork.IsMasterClient: true for the host."),
            new HookSpec("IsConnected", Pun + ":get_IsConnected", "IsConnected", "PhotonNetwork.IsConnected: true after Connect."),
            new HookSpec("IsConnectedAndReady", Pun + ":get_IsConnectedAndReady", "IsConnected", "PhotonNetwork.IsConnectedAndReady: true after Connect."),
            new HookSpec("ViewSync", Pun + ":RunViewUpdate", "ViewSync", "Per-tick PhotonView serialization: skipped in a propwash room (drone state goes through PushLocal/ReadPilots)."),
        };

        /// <summary>Binds one config entry per hook in section [Hooks].</summary>
        public static void Bind(ConfigFile config)
        {
            foreach (HookSpec h in All)
            {
                h.Target = config.Bind("Hooks", h.Id, h.DefaultTarget,
                    h.Description + " Format Type:Method (all overloads); empty disables. PUN 2 default: " + h.DefaultTarget);
            }
        }

        /// <summary>Patches every enabled hook it can find; returns how many methods were patched.</summary>
        public static int Install(Harmony harmony, ManualLogSource log)
        {
            int patched = 0;
            foreach (HookSpec h in All)
            {
                try
                {
                    patched += InstallOne(harmony, h, log);
                }
                catch (Exception e)
                {
                    // Never let one hook stop the plugin (or the game) from loading.
                    log.LogWarning("hook " + h.Id + ": skipped: " + e.Message);
                }
            }
            return patched;
        }

        private static int InstallOne(Harmony harmony, HookSpec h, ManualLogSource log)
        {
            string target = h.Target == null ? h.DefaultTarget : (h.Target.Value ?? "").Trim();
            if (target.Length == 0)
            {
                log.LogInfo("hook " + h.Id + ": disabled in the config");
                return 0;
            }
            int colon = target.LastIndexOf(':');
            if (colon <= 0 || colon == target.Length - 1)
            {
                log.LogWarning("hook " + h.Id + ": \"" + target + "\" is not Type:Method; skipped");
                return 0;
            }
            string typeName = target.Substring(0, colon), methodName = target.Substring(colon + 1);
            Type type = AccessTools.TypeByName(typeName);
            if (type == null)
            {
                log.LogWarning("hook " + h.Id + ": type " + typeName + " not found (another PUN version?); skipped");
                return 0;
            }
            List<MethodInfo> methods = AccessTools.GetDeclaredMethods(type).FindAll(m => m.Name == methodName);
            if (methods.Count == 0)
            {
                MethodInfo inherited = null;
                try
                {
                    inherited = AccessTools.Method(type, methodName);
                }
                catch (AmbiguousMatchException)
                {
                }
                if (inherited != null)
                {
                    methods.Add(inherited);
                }
            }
            if (methods.Count == 0)
            {
                log.LogWarning("hook " + h.Id + ": " + typeName + " has no method " + methodName + "; skipped");
                return 0;
            }
            MethodInfo prefix = typeof(PhotonPatches).GetMethod(h.Prefix, BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic);
            int patched = 0;
            foreach (MethodInfo m in methods)
            {
                try
                {
                    harmony.Patch(m, prefix: new HarmonyMethod(prefix));
                    patched++;
                    log.LogDebug("hook " + h.Id + ": patched " + Describe(m));
                }
                catch (Exception e)
                {
                    // Typically a return type the prefix's __result does not match.
                    log.LogWarning("hook " + h.Id + ": could not patch " + Describe(m) + ": " + e.Message);
                }
            }
            return patched;
        }

        private static string Describe(MethodInfo m)
        {
            ParameterInfo[] ps = m.GetParameters();
            string[] names = new string[ps.Length];
            for (int i = 0; i < ps.Length; i++)
            {
                names[i] = ps[i].ParameterType.Name;
            }
            return m.DeclaringType.FullName + "." + m.Name + "(" + string.Join(", ", names) + ") : " + m.ReturnType.Name;
        }
    }
}
