// The BepInEx 5 entry point: reads the config, loads the native library,
// starts the player's identity (Steam or offline, on a native thread),
// installs the Photon hooks, and drives the room from Unity's main thread:
// FixedUpdate exchanges drone frames, Update handles events and lobby
// answers, looks at the identity until it is ready, and forwards the
// library's log lines to BepInEx's log. Nothing from native code ever calls
// in here; everything is polled.
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
        private ShimSettings settings;
        private IdentityWatch identity;

        /// <summary>The room, for other mods (players, remote pilots, raw events). Null if loading failed.</summary>
        public static RoomBridge Room { get; private set; }

        private void Awake()
        {
            settings = new ShimSettings(Config);
            HookTable.Bind(Config);
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
            Room = new RoomBridge(settings, Logger, identity);
            PhotonPatches.Room = Room;
            harmony = new Harmony(Guid);
            int patched = HookTable.Install(harmony, Logger);
            Logger.LogInfo(patched + " Photon methods patched (see [Hooks] in the config for the table)");
            BackendRedirect.Install(Config, harmony, Logger, Path.GetDirectoryName(UnityEngine.Application.streamingAssetsPath), UnityEngine.Application.version);
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
            if (Room != null) Room.FixedTick();
        }

        private void Update()
        {
            if (identity != null) identity.Tick(UnityEngine.Time.realtimeSinceStartup);
            if (Room != null) Room.FrameTick();
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
            PhotonPatches.Room = null;
            if (harmony != null) harmony.UnpatchSelf();
            BackendRedirect.Uninstall();
            if (Room != null) Room.Dispose();
            Room = null;
        }
    }
}
