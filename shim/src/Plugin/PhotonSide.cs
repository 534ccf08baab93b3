// Everything the plugin object does with Photon's types, behind methods
// whose signatures name none of them. Mono resolves a method's types when
// it first compiles it: were these calls written out in PropwashPlugin, a
// game without Photon3Unity3D.dll would fail Awake as a whole and then
// every Update and FixedUpdate. Here only the first call fails, inside
// Awake's try, and the plugin goes on with identity and the backend.
using System.Runtime.CompilerServices;
using BepInEx.Logging;
using HarmonyLib;

namespace Propwash.Shim
{
    internal static class PhotonSide
    {
        /// <summary>Patches PhotonPeer; how many targets were patched (0: none stayed).</summary>
        [MethodImpl(MethodImplOptions.NoInlining)]
        public static int Install(Harmony harmony, ManualLogSource log, ShimSettings settings, IdentityWatch identity)
        {
            return PeerPatches.Install(harmony, log, peer =>
            {
                PhotonServer s = new PhotonServer(peer, settings, log, identity);
                s.Drones.InputSource = () => PropwashPlugin.DroneInput == null ? default(PilotInput) : PropwashPlugin.DroneInput();
                return s;
            });
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static void FixedTick()
        {
            foreach (PhotonServer s in PeerPatches.All) s.FixedTick();
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static void Tick(float now)
        {
            foreach (PhotonServer s in PeerPatches.All) s.Tick(now);
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static PropwashSession CurrentSession()
        {
            foreach (PhotonServer s in PeerPatches.All)
            {
                if (s.Session != null) return s.Session;
            }
            return null;
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        public static void Shutdown()
        {
            PeerPatches.Shutdown();
        }
    }
}
