// Everything a player or modder can change, bound to BepInEx's config file
// (BepInEx/config/propwash.cfg). The hook table lives in its own section so
// that a different PUN version is a config edit, not a rebuild.
using BepInEx.Configuration;

namespace Propwash.Shim
{
    internal sealed class ShimSettings
    {
        public readonly ConfigEntry<string> Coordinator;
        public readonly ConfigEntry<int> GamePort;
        public readonly ConfigEntry<string> BindAddress;
        public readonly ConfigEntry<string> JoinAddress;
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
        public readonly ConfigEntry<string> EventSink;
        public readonly ConfigEntry<string> EventDataType;
        public readonly ConfigEntry<string> Serializer;
        public readonly ConfigEntry<string> Deserializer;
        public readonly ConfigEntry<string> HashtableType;

        public ShimSettings(ConfigFile config)
        {
            Coordinator = config.Bind("Network", "Coordinator", "",
                "Lobby coordinator, host:port. Stored for the lobby list; the C ABI has no lobby calls yet, so rooms are joined by address (see JoinAddress).");
            GamePort = config.Bind("Network", "GamePort", Limits.DefaultPort,
                new ConfigDescription("UDP port a hosted room listens on (Photon's game port by default).", new AcceptableValueRange<int>(1, 65535)));
            BindAddress = config.Bind("Network", "BindAddress", "0.0.0.0",
                "Local IP address a hosted room listens on (0.0.0.0: all).");
            JoinAddress = config.Bind("Network", "JoinAddress", "",
                "ip:port of the host to join when the game's room name is not itself an address. Empty: JoinOrCreateRoom hosts.");
            PlayerName = config.Bind("Player", "NameOverride", "",
                "Display name; empty uses profile-name from player-state.json.");
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
                "Use the game's PhotonNetwork.SerializationRate (clamped to 10-240) for PilotHz and SendHz instead of the values above.");
            InterpolationDelayMs = config.Bind("Sync", "InterpolationDelayMs", -1f,
                "How far behind the host clock remote drones are shown, ms. Negative: the library's default (two snapshot intervals).");
            LocalDroneObject = config.Bind("Sync", "LocalDroneObject", "",
                "Name of the GameObject of the local drone (Transform + Rigidbody). Empty: no frames are sent. Must be found in the game.");
            RemoteDroneObjectFormat = config.Bind("Sync", "RemoteDroneObjectFormat", "",
                "Name of a remote pilot's drone GameObject, {0} = actor number (e.g. \"propwash-pilot-{0}\"). Empty: remote frames are only exposed to other mods.");
            LogLevel = config.Bind("Logging", "Level", Propwash.LogLevel.Info, "How much the native library logs into BepInEx's log.");
            EventSink = config.Bind("Photon", "EventSink", "Photon.Pun.PhotonNetwork:NetworkingClient.EventReceived",
                "Where incoming game events are delivered: Type:StaticMember[.Member...] ending in a delegate. PUN 2: Action<EventData>; PUN Classic: \"PhotonNetwork:OnEventCall\" (byte, object, int).");
            EventDataType = config.Bind("Photon", "EventDataType", "ExitGames.Client.Photon.EventData",
                "Type built for a PUN 2 EventReceived delegate.");
            Serializer = config.Bind("Photon", "Serializer", "ExitGames.Client.Photon.Protocol:Serialize",
                "Static byte[] (object) used to send event contents and property values other than null, byte[], string and numbers.");
            Deserializer = config.Bind("Photon", "Deserializer", "ExitGames.Client.Photon.Protocol:Deserialize",
                "Static object (byte[]) matching Serializer.");
            HashtableType = config.Bind("Photon", "HashtableType", "ExitGames.Client.Photon.Hashtable",
                "IDictionary type handed to OnRoomPropertiesUpdate / OnPlayerPropertiesUpdate callbacks.");
        }
    }
}
