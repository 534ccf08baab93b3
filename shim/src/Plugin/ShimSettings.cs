// Everything a player or modder can change, bound to BepInEx's config file
// (BepInEx/config/propwash.cfg). Photon itself needs no setting: the plugin
// meets it at PhotonPeer, whatever PUN the game was built with.
using BepInEx.Configuration;

namespace Propwash.Shim
{
    internal sealed class ShimSettings
    {
        public readonly ConfigEntry<string> Coordinator;
        public readonly ConfigEntry<string> RoomPassword;
        public readonly ConfigEntry<bool> RequireVerified;
        public readonly ConfigEntry<int> GamePort;
        public readonly ConfigEntry<string> BindAddress;
        public readonly ConfigEntry<string> JoinAddress;
        public readonly ConfigEntry<bool> IdentityOffline;
        public readonly ConfigEntry<string> OfflineName;
        public readonly ConfigEntry<bool> SyncPlayerState;
        public readonly ConfigEntry<string> MapIdProperty;
        public readonly ConfigEntry<string> TrackIdProperty;
        public readonly ConfigEntry<string> LapsProperty;
        public readonly ConfigEntry<string> LobbyMode;
        public readonly ConfigEntry<int> LobbyRefreshSeconds;
        public readonly ConfigEntry<string> PlayerName;
        public readonly ConfigEntry<string> GameVersion;
        public readonly ConfigEntry<bool> JoinAsSpectator;
        public readonly ConfigEntry<bool> SpectateIfFull;
        public readonly ConfigEntry<int> MaxPilots;
        public readonly ConfigEntry<int> MaxSpectators;
        public readonly ConfigEntry<int> PilotHz;
        public readonly ConfigEntry<int> SpectatorHz;
        public readonly ConfigEntry<int> SendHz;
        public readonly ConfigEntry<bool> FollowGameRates;
        public readonly ConfigEntry<float> InterpolationDelayMs;
        public readonly ConfigEntry<LogLevel> LogLevel;
        public readonly ConfigEntry<string> LocalDroneObject;
        public readonly ConfigEntry<string> RemoteDroneObjectFormat;

        public ShimSettings(ConfigFile config)
        {
            Coordinator = config.Bind("Network", "Coordinator", "",
                "Lobby coordinator, ip:port (an IP address, not a host name). Set: hosted rooms are listed there, and JoinRandomRoom and Photon's room list use its list. Empty: no lobby; rooms are joined by address (see JoinAddress).");
            RoomPassword = config.Bind("Network", "RoomPassword", "",
                "Password a hosted room asks of joiners, and the one given when joining (never sent in clear: the host checks a proof). Empty: hosted rooms are open, and JoinRandomRoom skips rooms that ask one.");
            RequireVerified = config.Bind("Network", "RequireVerified", false,
                "A hosted room seats only players whose Steam identity it verified. Needs Steam here (Identity.Offline off, Steam running); otherwise hosting fails and says so.");
            GamePort = config.Bind("Network", "GamePort", Limits.DefaultPort,
                new ConfigDescription("UDP port a hosted room listens on (Photon's game port by default).", new AcceptableValueRange<int>(1, 65535)));
            BindAddress = config.Bind("Network", "BindAddress", "0.0.0.0",
                "Local IP address a hosted room listens on (0.0.0.0: all).");
            JoinAddress = config.Bind("Network", "JoinAddress", "",
                "ip:port of the host to join when the game's room name is not itself an address or a listed room. Also JoinRandomRoom's room when Coordinator is empty. Empty: JoinOrCreateRoom hosts.");
            IdentityOffline = config.Bind("Identity", "Offline", false,
                "Do not try Steam: play as the offline identity (a random player id kept in propwash-identity.json beside this config, and OfflineName).");
            OfflineName = config.Bind("Identity", "OfflineName", "",
                "Name of the offline identity (used when Steam is off or unavailable). Empty: Player.NameOverride, else profile-name from player-state.json, else Pilot-xxxx.");
            SyncPlayerState = config.Bind("Identity", "SyncPlayerState", true,
                "Once identity is ready, write its Steam id, name and avatar URL into the game's player-state.json (the old file is kept as player-state.json.bak). Skipped while Steam is unavailable unless Offline is set.");
            PlayerName = config.Bind("Player", "NameOverride", "",
                "Display name in rooms; empty uses profile-name from player-state.json, else the identity's name (Steam or OfflineName).");
            GameVersion = config.Bind("Player", "GameVersionOverride", "",
                "Version string all players must share; empty uses the game's Application.version.");
            JoinAsSpectator = config.Bind("Player", "JoinAsSpectator", false, "Join rooms as a spectator instead of a pilot.");
            SpectateIfFull = config.Bind("Player", "SpectateIfFull", true, "Accept a spectator seat when the pilot seats are taken.");
            MaxPilots = config.Bind("Room", "MaxPilots", 6,
                new ConfigDescription("Pilot seats in a hosted room, the host's included.", new AcceptableValueRange<int>(1, Limits.MaxPilots)));
            MaxSpectators = config.Bind("Room", "MaxSpectators", 15,
                new ConfigDescription("Spectator seats in a hosted room.", new AcceptableValueRange<int>(0, 15)));
            PilotHz = config.Bind("Rates", "PilotHz", 60,
                new ConfigDescription("Snapshots per second a host sends to pilots.", new AcceptableValueRange<int>(10, 240)));
            SpectatorHz = config.Bind("Rates", "SpectatorHz", 30,
                new ConfigDescription("Snapshots per second a host sends to spectators.", new AcceptableValueRange<int>(10, 240)));
            SendHz = config.Bind("Rates", "SendHz", 60,
                new ConfigDescription("Frames per second a joined pilot sends to the host.", new AcceptableValueRange<int>(10, 240)));
            FollowGameRates = config.Bind("Rates", "FollowGameRates", false,
                "Keep the game's own PUN send and serialization rates (PUN's defaults are 20 and 10 Hz) and use its serialization rate (clamped to 10-240) for PilotHz and SendHz. Off: PUN's rates are raised to SendHz when the game connects.");
            InterpolationDelayMs = config.Bind("Sync", "InterpolationDelayMs", -1f,
                "How far behind the host clock remote drones are shown, ms. Negative: the library's default (two snapshot intervals).");
            LocalDroneObject = config.Bind("Sync", "LocalDroneObject", "",
                "Name of the GameObject of the local drone (Transform + Rigidbody) for propwash's own pilot frames beside PUN's view serialization. Empty: the drone travels as the game's PUN views do, and no pilot frames are sent.");
            RemoteDroneObjectFormat = config.Bind("Sync", "RemoteDroneObjectFormat", "",
                "Name of a remote pilot's drone GameObject, {0} = actor number (e.g. \"propwash-pilot-{0}\"). Empty: remote frames are only exposed to other mods.");
            MapIdProperty = config.Bind("Lobby", "MapIdProperty", "",
                "Room property (a key the game sets in RoomOptions.CustomRoomProperties or Room.SetCustomProperties) whose value is listed as the room's map id. Empty: listed without a map.");
            TrackIdProperty = config.Bind("Lobby", "TrackIdProperty", "",
                "Room property listed as the room's track id (CMP-... marks a custom track). Empty: listed without a track.");
            LapsProperty = config.Bind("Lobby", "LapsProperty", "",
                "Room property listed as the number of laps. Empty: 0 (unknown).");
            LobbyMode = config.Bind("Lobby", "Mode", "race", "Game mode a hosted room is listed with.");
            LobbyRefreshSeconds = config.Bind("Lobby", "RefreshSeconds", 5,
                new ConfigDescription("How often the room list is asked again while the game is in Photon's lobby (JoinLobby).", new AcceptableValueRange<int>(2, 60)));
            LogLevel = config.Bind("Logging", "Level", Propwash.LogLevel.Info, "How much the native library logs into BepInEx's log.");
        }
    }
}
