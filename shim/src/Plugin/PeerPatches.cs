// Harmony prefixes on ExitGames.Client.Photon.PhotonPeer, where PUN Classic
// and PUN 2 both meet Photon's client library: every operation, connect,
// disconnect, encryption, dispatch and the clock go to the peer's
// PhotonServer instead of a socket. Targets are found by name with the
// overloads Photon3Unity3D 4.x has; each prefix is checked against its
// target the way HarmonyX checks it (HarmonyX 2.4 has no __args, so every
// prefix takes typed arguments by position) and a patch that fails is
// removed again, so it cannot break another mod's patch of the same
// method. Without the patches that carry the connection, none stay: the
// game then runs as it would without propwash.
using System;
using System.Collections.Generic;
using System.Reflection;
using BepInEx.Logging;
using ExitGames.Client.Photon;
using HarmonyLib;

namespace Propwash.Shim
{
    internal static class PeerPatches
    {
        private const BindingFlags Any = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;

        private static readonly Dictionary<object, PhotonServer> Servers = new Dictionary<object, PhotonServer>();
        private static Func<PhotonPeer, PhotonServer> create;
        private static FieldInfo deliveryMode;
        private static PropertyInfo reliability;

        /// <summary>One line per target, as the log shows them.</summary>
        private sealed class Target
        {
            public string What;
            public Func<Type, MethodBase> Find;
            public string Prefix;
            /// <summary>Without it propwash cannot carry the connection.</summary>
            public bool Required;
        }

        private static readonly Target[] Targets =
        {
            new Target { What = "Connect(string, string)", Find = t => Method(t, "Connect", typeof(string), typeof(string)), Prefix = "ConnectPrefix" },
            new Target { What = "Connect(string, string, object)", Find = t => Method(t, "Connect", typeof(string), typeof(string), typeof(object)), Prefix = "ConnectPrefix" },
            new Target { What = "Disconnect()", Find = t => Method(t, "Disconnect"), Prefix = "DisconnectPrefix", Required = true },
            new Target { What = "EstablishEncryption()", Find = t => Method(t, "EstablishEncryption"), Prefix = "EncryptionPrefix" },
            new Target { What = "SendOperation(byte, Dictionary, SendOptions)", Find = t => Operation(t, "SendOperation", 3), Prefix = "SendOperationPrefix" },
            new Target { What = "OpCustom(byte, Dictionary, bool, byte, bool)", Find = t => Operation(t, "OpCustom", 5), Prefix = "OpCustomPrefix" },
            new Target { What = "OpCustom(OperationRequest, bool, byte, bool)", Find = t => Method(t, "OpCustom", typeof(OperationRequest), typeof(bool), typeof(byte), typeof(bool)), Prefix = "OpCustomRequestPrefix" },
            new Target { What = "DispatchIncomingCommands()", Find = t => Method(t, "DispatchIncomingCommands"), Prefix = "DispatchPrefix", Required = true },
            new Target { What = "SendOutgoingCommands()", Find = t => Method(t, "SendOutgoingCommands"), Prefix = "NothingToSendPrefix", Required = true },
            new Target { What = "SendAcksOnly()", Find = t => Method(t, "SendAcksOnly"), Prefix = "NothingToSendPrefix" },
            new Target { What = "Service()", Find = t => Method(t, "Service"), Prefix = "ServicePrefix" },
            new Target { What = "FetchServerTimestamp()", Find = t => Method(t, "FetchServerTimestamp"), Prefix = "SkipPrefix" },
            new Target { What = "PeerState", Find = t => Getter(t, "PeerState"), Prefix = "PeerStatePrefix", Required = true },
            new Target { What = "ServerTimeInMilliSeconds", Find = t => Getter(t, "ServerTimeInMilliSeconds"), Prefix = "ServerTimePrefix" },
            new Target { What = "RoundTripTime", Find = t => Getter(t, "RoundTripTime"), Prefix = "RoundTripPrefix" },
        };

        /// <summary>Patches PhotonPeer; returns how many targets were patched (0: none stayed).</summary>
        public static int Install(Harmony harmony, ManualLogSource log, Func<PhotonPeer, PhotonServer> factory)
        {
            create = factory;
            Type peer = typeof(PhotonPeer);
            log.LogInfo("Photon client library: " + peer.Assembly.GetName().Name + " " + peer.Assembly.GetName().Version);
            List<MethodBase> done = new List<MethodBase>();
            bool operations = false, connect = false;
            List<string> missing = new List<string>();
            foreach (Target t in Targets)
            {
                MethodBase target = t.Find(peer);
                MethodInfo prefix = typeof(PeerPatches).GetMethod(t.Prefix, BindingFlags.NonPublic | BindingFlags.Static);
                if (target == null)
                {
                    log.LogInfo("patch PhotonPeer." + t.What + ": not in this Photon3Unity3D, skipped");
                    if (t.Required) missing.Add(t.What);
                    continue;
                }
                string why = PrefixCheck.Why(target, prefix);
                if (why == null)
                {
                    try
                    {
                        harmony.Patch(target, new HarmonyMethod(prefix));
                    }
                    catch (Exception e)
                    {
                        why = e.GetType().Name + ": " + e.Message;
                        // A patch that failed to compile stays in Harmony's table and would break every
                        // later patch of this method, other mods' too: take ours out again.
                        try
                        {
                            harmony.Unpatch(target, prefix);
                        }
                        catch (Exception)
                        {
                        }
                    }
                }
                if (why != null)
                {
                    log.LogWarning("patch PhotonPeer." + t.What + ": could not be patched: " + why);
                    if (t.Required) missing.Add(t.What);
                    continue;
                }
                done.Add(target);
                log.LogInfo("patch PhotonPeer." + t.What + ": patched");
                operations |= t.Prefix == "SendOperationPrefix" || t.Prefix == "OpCustomPrefix";
                connect |= t.Prefix == "ConnectPrefix";
            }
            if (!operations) missing.Add("SendOperation or OpCustom");
            if (!connect) missing.Add("Connect");
            if (missing.Count > 0)
            {
                harmony.UnpatchSelf();
                log.LogError("propwash cannot carry this game's Photon connection (missing: " + string.Join(", ", missing.ToArray())
                    + "); every patch was taken out again and multiplayer stays as it was");
                return 0;
            }
            return done.Count;
        }

        /// <summary>Every peer's server, for the plugin's frames.</summary>
        public static IEnumerable<PhotonServer> All
        {
            get { return Servers.Values; }
        }

        public static void Shutdown()
        {
            foreach (PhotonServer s in Servers.Values) s.Dispose();
            Servers.Clear();
            create = null;
        }

        private static MethodBase Method(Type t, string name, params Type[] parameters)
        {
            return t.GetMethod(name, Any | BindingFlags.DeclaredOnly, null, parameters, null);
        }

        private static MethodBase Getter(Type t, string name)
        {
            PropertyInfo p = t.GetProperty(name, Any | BindingFlags.DeclaredOnly);
            return p == null ? null : p.GetGetMethod(true);
        }

        /// <summary>An operation overload with <paramref name="count"/> parameters starting (byte, Dictionary&lt;byte, object&gt;).</summary>
        private static MethodBase Operation(Type t, string name, int count)
        {
            foreach (MethodInfo m in t.GetMethods(Any | BindingFlags.DeclaredOnly))
            {
                if (m.Name != name) continue;
                ParameterInfo[] ps = m.GetParameters();
                if (ps.Length == count && ps[0].ParameterType == typeof(byte) && ps[1].ParameterType == typeof(Dictionary<byte, object>)) return m;
            }
            return null;
        }

        private static PhotonServer ServerOf(object peer)
        {
            PhotonServer s;
            if (Servers.TryGetValue(peer, out s)) return s;
            PhotonPeer p = peer as PhotonPeer;
            if (p == null || create == null) return null;
            s = create(p);
            Servers[peer] = s;
            return s;
        }

        /// <summary>Photon's SendOptions, seen as a boxed struct: reliable unless its delivery mode says not.</summary>
        private static bool Reliable(object options)
        {
            if (options == null) return true;
            Type t = options.GetType();
            if (deliveryMode == null && reliability == null)
            {
                deliveryMode = t.GetField("DeliveryMode");
                if (deliveryMode == null) reliability = t.GetProperty("Reliability");
            }
            if (deliveryMode != null)
            {
                int mode = Convert.ToInt32(deliveryMode.GetValue(options));
                return mode == 1 || mode == 3;
            }
            return reliability == null || (bool)reliability.GetValue(options, null);
        }

        // ---- the prefixes (false: Photon's own body does not run) ----------------

        private static bool ConnectPrefix(object __instance, string __0, ref bool __result)
        {
            PhotonServer s = ServerOf(__instance);
            if (s == null) return true;
            __result = s.Connect(__0);
            return false;
        }

        private static bool DisconnectPrefix(object __instance)
        {
            PhotonServer s = ServerOf(__instance);
            if (s == null) return true;
            s.Disconnect();
            return false;
        }

        private static bool EncryptionPrefix(object __instance, ref bool __result)
        {
            PhotonServer s = ServerOf(__instance);
            if (s == null) return true;
            __result = s.EstablishEncryption();
            return false;
        }

        private static bool SendOperationPrefix(object __instance, byte __0, Dictionary<byte, object> __1, object __2, ref bool __result)
        {
            PhotonServer s = ServerOf(__instance);
            if (s == null) return true;
            __result = s.Operation(__0, __1, Reliable(__2));
            return false;
        }

        private static bool OpCustomPrefix(object __instance, byte __0, Dictionary<byte, object> __1, bool __2, ref bool __result)
        {
            PhotonServer s = ServerOf(__instance);
            if (s == null) return true;
            __result = s.Operation(__0, __1, __2);
            return false;
        }

        private static bool OpCustomRequestPrefix(object __instance, OperationRequest __0, bool __1, ref bool __result)
        {
            PhotonServer s = ServerOf(__instance);
            if (s == null || __0 == null) return true;
            __result = s.Operation(__0.OperationCode, __0.Parameters, __1);
            return false;
        }

        private static bool DispatchPrefix(object __instance, ref bool __result)
        {
            PhotonServer s = ServerOf(__instance);
            if (s == null) return true;
            __result = s.Dispatch();
            return false;
        }

        private static bool NothingToSendPrefix(ref bool __result)
        {
            // Operations went to the library as they were made.
            __result = false;
            return false;
        }

        private static bool ServicePrefix(object __instance)
        {
            PhotonServer s = ServerOf(__instance);
            if (s == null) return true;
            for (int i = 0; i < 10000 && s.Dispatch(); i++)
            {
            }
            return false;
        }

        private static bool SkipPrefix()
        {
            return false;
        }

        private static bool PeerStatePrefix(object __instance, ref PeerStateValue __result)
        {
            PhotonServer s = ServerOf(__instance);
            if (s == null) return true;
            __result = s.Connected ? PeerStateValue.Connected : PeerStateValue.Disconnected;
            return false;
        }

        private static bool RoundTripPrefix(object __instance, ref int __result)
        {
            PhotonServer s = ServerOf(__instance);
            if (s == null) return true;
            __result = s.RoundTripMs();
            return false;
        }

        private static bool ServerTimePrefix(object __instance, ref int __result)
        {
            PhotonServer s = ServerOf(__instance);
            if (s == null) return true;
            __result = s.ServerTime();
            return false;
        }
    }

    /// <summary>
    /// HarmonyX 2.4's rules for a prefix's parameters, checked before patching: __instance takes
    /// the instance (object, or a type it is); __result is a ref of exactly the return type (object
    /// for a reference type); __n is the n-th argument as its own type, or object; a plain name must
    /// be one of the target's parameters. __args does not exist before HarmonyX 2.8.
    /// </summary>
    internal static class PrefixCheck
    {
        public static string Why(MethodBase target, MethodInfo prefix)
        {
            if (prefix == null) return "the plugin has no such prefix";
            if (!prefix.IsStatic) return "the prefix is not static";
            if (prefix.ReturnType != typeof(bool) && prefix.ReturnType != typeof(void)) return "a prefix returns bool or void";
            ParameterInfo[] args = target.GetParameters();
            MethodInfo mi = target as MethodInfo;
            Type returns = mi == null ? typeof(void) : mi.ReturnType;
            foreach (ParameterInfo p in prefix.GetParameters())
            {
                Type t = p.ParameterType.IsByRef ? p.ParameterType.GetElementType() : p.ParameterType;
                string n = p.Name;
                if (n == "__instance")
                {
                    if (target.IsStatic) return "__instance on a static method";
                    if (!t.IsAssignableFrom(target.DeclaringType)) return "__instance is a " + t.Name + ", not a " + target.DeclaringType.Name;
                    continue;
                }
                if (n == "__result")
                {
                    if (returns == typeof(void)) return "__result on a method returning nothing";
                    if (!p.ParameterType.IsByRef) return "__result must be ref";
                    if (t != returns && !(t == typeof(object) && !returns.IsValueType)) return "__result is a " + t.Name + ", the method returns a " + returns.Name;
                    continue;
                }
                if (n == "__args") return "__args needs HarmonyX 2.8 or newer";
                if (n.StartsWith("__", StringComparison.Ordinal))
                {
                    int at;
                    if (!int.TryParse(n.Substring(2), out at) || at < 0 || at >= args.Length) return n + " is not an argument of " + target.Name;
                    Type arg = args[at].ParameterType;
                    if (t != arg && t != typeof(object)) return n + " is a " + t.Name + ", the argument a " + arg.Name;
                    continue;
                }
                if (Array.Find(args, a => a.Name == n) == null) return "parameter " + n + " is not one of " + target.Name + "'s";
            }
            return null;
        }
    }
}
