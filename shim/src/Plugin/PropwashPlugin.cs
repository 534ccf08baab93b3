// The BepInEx 5 entry point: reads the config, loads the native library,
// installs the Photon hooks, and drives the room from Unity's main thread:
// FixedUpdate exchanges drone frames, Update handles events and forwards
// the library's log lines to BepInEx's log. Nothing from native code ever
// calls in here; everything is polled.
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
            Room = new RoomBridge(settings, Logger);
            PhotonPatches.Room = Room;
            harmony = new Harmony(Guid);
            int patched = HookTable.Install(harmony, Logger);
            Logger.LogInfo(patched + " Photon methods patched (see [Hooks] in the config for the table)");
        }

        private void FixedUpdate()
        {
            if (Room != null) Room.FixedTick();
        }

        private void Update()
        {
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
            if (Room != null) Room.Dispose();
            Room = null;
        }
    }
}
