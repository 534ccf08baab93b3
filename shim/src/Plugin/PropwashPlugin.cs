// The BepInEx 5 entry point: reads the config, loads the native library,
// starts the player's identity (Steam or offline, on a native thread) and
// patches PhotonPeer, so the game's own PUN meets propwash's servers
// instead of Photon's. Update runs the lobby's list and searches and
// forwards the library's log lines; FixedUpdate carries the optional
// pilot-frame fast path. Nothing from native code ever calls in here;
// everything is polled.
using System;
using System.IO;
using BepInEx;
using HarmonyLib;

namespace Propwash.Shim
{
    [BepInPlugin(Guid, Name, Version)]
    public sealed class PropwashPlugin : BaseUnityPlugin
    {
        public const string Guid = "propwash";
        public const string Name = "propwash";
        public const string Version = "0.1.0";
        private const int LogLinesPerFrame = 200;

        private Harmony harmony;
        private Harmony backendHarmony;
        /// <summary>PhotonPeer is patched: the Photon side ticks (never touched in a game without Photon3Unity3D).</summary>
        private static bool photon;
        private ShimSettings settings;
        private IdentityWatch identity;

        /// <summary>For other mods: where the drone's sticks come from for the pilot-frame fast path (Sync.LocalDroneObject).</summary>
        public static Func<PilotInput> DroneInput { get; set; }

        /// <summary>For other mods: the room's session while the game is in a room, else null.</summary>
        public static PropwashSession CurrentSession
        {
            get { return photon ? PhotonSide.CurrentSession() : null; }
        }

        private void Awake()
        {
            settings = new ShimSettings(Config);
            string here = Path.GetDirectoryName(typeof(PropwashPlugin).Assembly.Location);
            try
            {
                if (!NativeLibrary.Preload(here, Logger))
                {
                    enabled = false;
                    return;
                }
                Logger.LogInfo("propwash native library " + PropwashSession.Version);
                Propwash.Log.SetLevel(settings.LogLevel.Value);
            }
            catch (Exception e)
            {
                // DllNotFoundException / EntryPointNotFoundException: the wrong or no propwash.dll.
                Logger.LogError("the propwash native library could not be used, multiplayer stays off: " + e.Message);
                enabled = false;
                return;
            }
            settings.LogLevel.SettingChanged += (s, e) => Propwash.Log.SetLevel(settings.LogLevel.Value);
            StartIdentity();
            // The dead backend is answered first and under its own Harmony id: the game needs it
            // for its menus even when Photon cannot be patched (which takes every PhotonPeer patch out again).
            backendHarmony = new Harmony(Guid + ".backend");
            BackendRedirect.Install(Config, backendHarmony, Logger, Path.GetDirectoryName(UnityEngine.Application.streamingAssetsPath), UnityEngine.Application.version);
            harmony = new Harmony(Guid);
            try
            {
                int patched = PhotonSide.Install(harmony, Logger, settings, identity);
                photon = patched > 0;
                if (photon) Logger.LogInfo(patched + " PhotonPeer methods patched: the game's PUN now talks to propwash");
            }
            catch (Exception e)
            {
                // A game without Photon3Unity3D (FileNotFoundException, TypeLoadException) or whose PhotonPeer cannot be read;
                // identity and the backend stand-in go on.
                Logger.LogError("Photon's client library could not be patched, multiplayer stays as it was: " + e.GetBaseException().Message);
                harmony.UnpatchSelf();
            }
        }

        /// <summary>
        /// Identity lives in BepInEx/config (the offline id file) and writes the game's
        /// player-state.json under the folder holding StreamingAssets (DRL Simulator_Data).
        /// </summary>
        private void StartIdentity()
        {
            try
            {
                string dataDir = Path.GetDirectoryName(UnityEngine.Application.streamingAssetsPath);
                identity = new IdentityWatch(settings, Logger, dataDir);
                string gameName, gameId;
                LocalPlayer.ReadGameProfile(Logger, out gameName, out gameId);
                identity.Start(Paths.ConfigPath, LocalPlayer.First(settings.OfflineName.Value, settings.PlayerName.Value, gameName));
            }
            catch (Exception e)
            {
                Logger.LogError("identity did not start, rooms use the configured name: " + e.Message);
            }
        }

        private void FixedUpdate()
        {
            if (photon) PhotonSide.FixedTick();
        }

        private void Update()
        {
            float now = UnityEngine.Time.realtimeSinceStartup;
            if (identity != null) identity.Tick(now);
            if (photon) PhotonSide.Tick(now);
            string line;
            for (int i = 0; i < LogLinesPerFrame && Propwash.Log.TryRead(out line); i++)
            {
                Forward(line);
            }
        }

        /// <summary>Lines start with their level ("WARN propwash::...").</summary>
        private void Forward(string line)
        {
            if (line.StartsWith("ERROR", StringComparison.Ordinal)) Logger.LogError(line);
            else if (line.StartsWith("WARN", StringComparison.Ordinal)) Logger.LogWarning(line);
            else if (line.StartsWith("DEBUG", StringComparison.Ordinal) || line.StartsWith("TRACE", StringComparison.Ordinal)) Logger.LogDebug(line);
            else Logger.LogInfo(line);
        }

        private void OnDestroy()
        {
            if (harmony != null) harmony.UnpatchSelf();
            if (photon) PhotonSide.Shutdown();
            photon = false;
            if (backendHarmony != null) backendHarmony.UnpatchSelf();
            BackendRedirect.Uninstall();
        }
    }
}
