// Who the local racer is, from the library's identity: Steam when it starts,
// else the offline id kept in BepInEx/config/propwash-identity.json. Started
// once at load (it returns at once; Steam starts on a native thread), looked
// at once a second from Update until it is ready, then written into the
// game's player-state.json once if Identity.SyncPlayerState asks. Nothing
// here throws into the game: every failure is a log line.
using System;
using BepInEx.Logging;

namespace Propwash.Shim
{
    internal sealed class IdentityWatch
    {
        private const float PollSeconds = 1f;
        /// <summary>Polls to wait for Steam's avatar URL, fetched after identity is ready (3 s at most), before syncing.</summary>
        private const int AvatarPolls = 5;

        private readonly ShimSettings settings;
        private readonly ManualLogSource log;
        private readonly string gameDataDir;
        private bool watching;
        private float nextPoll;
        private int avatarPolls;

        /// <param name="gameDataDir">The folder holding StreamingAssets (DRL Simulator_Data), for player-state.json.</param>
        public IdentityWatch(ShimSettings settings, ManualLogSource log, string gameDataDir)
        {
            this.settings = settings;
            this.log = log;
            this.gameDataDir = gameDataDir;
        }

        /// <summary>The identity once ready (refreshed while watched); null before, or when it could not start.</summary>
        public PlayerIdentity Current { get; private set; }

        /// <summary>Starts identity; <paramref name="offlineName"/> is the name used without Steam (empty: Pilot-xxxx).</summary>
        public void Start(string configDir, string offlineName)
        {
            IdentityOptions o = new IdentityOptions
            {
                ConfigDir = configDir ?? "",
                PlayerName = offlineName ?? "",
                Offline = settings.IdentityOffline.Value,
            };
            try
            {
                PropwashIdentity.Start(o);
            }
            catch (Exception e)
            {
                if (!AlreadyStarted())
                {
                    log.LogError("identity did not start, rooms use the configured name: " + Message(e));
                    return;
                }
                // A reloaded plugin: identity starts once per process and keeps its first options.
                log.LogWarning("identity was already started in this process with other options; using that one (" + Message(e) + ")");
            }
            watching = true;
            log.LogInfo(o.Offline ? "identity: starting offline (Identity.Offline)" : "identity: starting (Steam, else offline)");
        }

        private static bool AlreadyStarted()
        {
            try
            {
                string json;
                PropwashIdentity.TryGetJson(out json);
                return true;
            }
            catch (PropwashException e)
            {
                return e.Code != ResultCode.NotStarted;
            }
        }

        private static string Message(Exception e)
        {
            PropwashException p = e as PropwashException;
            return p != null ? p.NativeMessage : e.Message;
        }

        /// <summary>From Update: at most one cheap native call a second, and only until identity is ready and synced.</summary>
        public void Tick(float now)
        {
            if (!watching || now < nextPoll) return;
            nextPoll = now + PollSeconds;
            PlayerIdentity id;
            try
            {
                if (!PropwashIdentity.TryGet(out id)) return;
            }
            catch (Exception e)
            {
                watching = false;
                log.LogError("identity failed, rooms use the configured name: " + Message(e));
                return;
            }
            if (Current == null) log.LogInfo(Describe(id));
            Current = id;
            if (!settings.SyncPlayerState.Value)
            {
                watching = false;
                return;
            }
            if (id.SteamId != null && id.AvatarUrl == null && avatarPolls++ < AvatarPolls) return;
            watching = false;
            SyncPlayerState(id);
        }

        private static string Describe(PlayerIdentity id)
        {
            if (id.Source == "steam")
            {
                return "identity: Steam, \"" + id.Name + "\"" + (id.Verified ? " (verified)" : "");
            }
            return "identity: offline, \"" + id.Name + "\"" + (string.IsNullOrEmpty(id.Note) ? "" : " (" + id.Note + ")");
        }

        /// <summary>
        /// Writes steam-id, profile-name and profile-photo-url into player-state.json. Skipped when
        /// Steam was wanted but unavailable: the offline identity would blank the Steam id and photo
        /// the game already has.
        /// </summary>
        private void SyncPlayerState(PlayerIdentity id)
        {
            if (id.Source != "steam" && !settings.IdentityOffline.Value)
            {
                log.LogInfo("player-state.json left as it is: Steam is unavailable (set Identity.Offline to write the offline identity into it)");
                return;
            }
            try
            {
                PlayerStateSync r = PropwashIdentity.SyncPlayerState(gameDataDir);
                if (r.Written)
                {
                    log.LogInfo("player-state.json updated (" + string.Join(", ", r.Changed) + "): " + r.Path
                        + (r.Backup != null ? "; the previous file is " + r.Backup : ""));
                }
                else
                {
                    log.LogInfo("player-state.json already matches the identity: " + r.Path);
                }
            }
            catch (Exception e)
            {
                log.LogWarning("player-state.json not updated: " + Message(e));
            }
        }
    }
}
