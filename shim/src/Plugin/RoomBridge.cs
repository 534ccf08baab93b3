// What Photon's room was to the game, on a PropwashSession: hosting and
// joining, events, properties, the clock, and the per-tick drone exchange;
// and what Photon's lobby was, on the coordinator: hosted rooms are listed
// there, JoinRandomRoom and the room list search it. The patches call in
// here; the plugin drives it from FixedUpdate (frames) and Update (events,
// lobby reports and answers, deferred callbacks). Nothing waits: a lobby
// search is asked in the patch and answered in a later Update. Main thread
// only.
using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Text;
using BepInEx.Logging;
using UnityEngine;

namespace Propwash.Shim
{
    public sealed class RoomBridge : IDisposable
    {
        /// <summary>Photon error codes handed to the *Failed callbacks.</summary>
        private const short GameFull = 32765, GameClosed = 32764, NoRandomMatchFound = 32760, OperationFailed = -1;
        private const string CreateRoomFailed = "OnCreateRoomFailed", JoinRoomFailed = "OnJoinRoomFailed", JoinRandomFailed = "OnJoinRandomFailed";
        private const int EventsPerFrame = 256, LobbyReportsPerFrame = 32, LobbyAnswersPerFrame = 8;
        /// <summary>How long a welcome waits for the library's room state to show us seated (it is published just after the event).</summary>
        private const float JoinStateSeconds = 0.5f;
        /// <summary>Rooms asked for per page (the library's most).</summary>
        private const int RoomsPerPage = 50;
        /// <summary>A lobby answer is given up on after this long (the library's own retries end sooner).</summary>
        private const float LobbyAnswerSeconds = 20f;

        private readonly ShimSettings settings;
        private readonly ManualLogSource log;
        private readonly IdentityWatch identity;
        private readonly PhotonGlue glue;
        private readonly DroneSync drones;
        private readonly PilotState[] pilots = new PilotState[Limits.MaxPilots];
        private readonly Dictionary<ushort, PlayerRecord> players = new Dictionary<ushort, PlayerRecord>();
        private readonly List<Action> deferred = new List<Action>();
        private readonly HashSet<string> warned = new HashSet<string>();
        private PropwashSession session;
        private bool seated, isHost, clockSynced, leaving;
        private ushort ourActor;
        private Role ourRole;
        private LocalPlayer local;
        private string roomName;
        private int pilotCount, tickErrors, dropped;
        /// <summary>Welcomed, OnJoinedRoom not raised yet: the room's state is read first (events wait meanwhile).</summary>
        private bool joinPending;
        private float joinDeadline;

        // The room's properties as the game sees them (decoded), and PhotonNetwork.CurrentRoom built on them.
        private IDictionary roomView;
        private object photonRoom;
        private IDictionary photonRoomProperties;
        /// <summary>Host: CreateRoom's properties (key, value) whose echo from the library is not raised (Photon raises nothing for them).</summary>
        private readonly Dictionary<string, string> initialEcho = new Dictionary<string, string>();

        // The session's lobby side: a listed room, or a join through the coordinator.
        private bool lobbySide, coordinatorDown;
        private RoomListing listing;
        /// <summary>The *Failed callback of the join in progress, raised at most once per session.</summary>
        private string failCallback = JoinRoomFailed;
        private bool failRaised;
        /// <summary>A CLOSED of a listed join held for one Update, until its join_failed report is in.</summary>
        private CloseReason? lateClose;

        // The lobby browser: one JoinRandomRoom search, and the room list while in Photon's lobby.
        private readonly LobbyBrowser browser = new LobbyBrowser();
        private bool searching, listPending;
        private uint searchRequest, listRequest;
        private float searchDeadline, listDeadline, nextRoomList;
        private string wantMap, wantTrack;
        /// <summary>Room names as the room list showed them, to the rooms' session ids (JoinRoom by name).</summary>
        private readonly Dictionary<string, string> listedRooms = new Dictionary<string, string>();
        private readonly HashSet<string> shownRooms = new HashSet<string>();

        /// <summary>
        /// A player was seated, us included (raised for us once we are seated, before OnJoinedRoom on a
        /// joiner). For other mods; PUN's OnPlayerEnteredRoom needs Photon Player objects and is not raised.
        /// </summary>
        public event Action<PlayerRecord> PlayerJoined;
        /// <summary>A player left (actor, why).</summary>
        public event Action<ushort, CloseReason> PlayerLeft;
        /// <summary>
        /// A player's properties changed, ours included (actor, and the keys of one SetCustomProperties
        /// call as one Photon Hashtable; a null value: removed): once per call, as PUN's
        /// OnPlayerPropertiesUpdate (not raised: it needs Photon Player objects). For other mods.
        /// </summary>
        public event Action<ushort, IDictionary> PlayerPropertiesChanged;
        /// <summary>Every game event as raw payload (code, sender, data valid during the call), before it goes to Photon's sink.</summary>
        public event Action<byte, ushort, ArraySegment<byte>> GameEventReceived;

        internal RoomBridge(ShimSettings settings, ManualLogSource log, IdentityWatch identity)
        {
            this.settings = settings;
            this.log = log;
            this.identity = identity;
            glue = new PhotonGlue(settings, log);
            drones = new DroneSync(settings, log);
        }

        public bool Connected { get; private set; }
        /// <summary>In Photon's lobby (JoinLobby until LeaveLobby or a room): the room list is refreshed.</summary>
        public bool InLobby { get; private set; }
        public bool InRoom { get { return session != null && seated; } }
        public bool IsHost { get { return session != null && isHost; } }
        public bool HasClock { get { return session != null && clockSynced; } }
        public ushort LocalActor { get { return ourActor; } }
        public int GameSendRate { get; internal set; }
        public int GameSerializationRate { get; internal set; }

        /// <summary>Remote pilots as last read in FixedUpdate (interpolated); valid up to <see cref="RemotePilotCount"/>.</summary>
        public PilotState[] RemotePilots { get { return pilots; } }
        public int RemotePilotCount { get { return pilotCount; } }
        /// <summary>Everyone seated, us included once seated (as PUN's PlayerList); empty outside a room.</summary>
        public ICollection<PlayerRecord> Players { get { return players.Values; } }
        /// <summary>The room's properties as PhotonNetwork.CurrentRoom.CustomProperties holds them (decoded, Photon's Hashtable); null outside a room.</summary>
        public IDictionary RoomProperties { get { return InRoom ? roomView : null; } }
        /// <summary>What the CurrentRoom hook returns: a Photon Room (Photon.RoomType) with the room's name and properties; null outside a room or when none could be built.</summary>
        public object PhotonRoom { get { return InRoom ? photonRoom : null; } }
        /// <summary>Local drone frames the library did not take in this session (queue full, or the session closing).</summary>
        public int DroppedFrames { get { return dropped; } }

        /// <summary>Where sticks and buttons come from (DRL's input mapping is not known yet). Default: none.</summary>
        public Func<PilotInput> InputSource
        {
            get { return drones.InputSource; }
            set { drones.InputSource = value; }
        }

        internal void Warn(string message)
        {
            if (warned.Add(message)) log.LogWarning(message);
        }

        public double HostTime()
        {
            return session.HostTime();
        }

        // ---- what the patches call ------------------------------------------

        public bool Connect()
        {
            Connected = true;
            Defer("OnConnectedToMaster");
            return true;
        }

        public bool CreateRoom(string roomName, object roomOptions)
        {
            return Host(roomName, roomOptions);
        }

        public bool JoinRoom(string roomName)
        {
            string sessionId = ListedSessionFor(roomName);
            if (sessionId != null) return Join(null, sessionId, roomName, JoinRoomFailed);
            string address = AddressFor(roomName);
            if (address == null)
            {
                Fail(JoinRoomFailed, OperationFailed, "propwash: room \"" + roomName + "\" is not ip:port or a listed room, and Network.JoinAddress is empty");
                return false;
            }
            return Join(address, null, address, JoinRoomFailed);
        }

        public bool JoinOrCreateRoom(string roomName, object roomOptions)
        {
            string sessionId = ListedSessionFor(roomName);
            if (sessionId != null) return Join(null, sessionId, roomName, JoinRoomFailed);
            string address = AddressFor(roomName);
            return address != null ? Join(address, null, address, JoinRoomFailed) : Host(roomName, roomOptions);
        }

        /// <summary>
        /// With a coordinator: asks the lobby for open rooms of this game version; the first that
        /// fits is joined from a later Update (rooms come with free pilot seats first). Without
        /// one: Network.JoinAddress. <paramref name="expected"/> is Photon's
        /// expectedCustomRoomProperties; the map and track properties named in [Lobby] filter.
        /// </summary>
        public bool JoinRandomRoom(IDictionary expected)
        {
            if (Busy(JoinRandomFailed)) return false;
            string coordinator = Coordinator();
            if (coordinator == null)
            {
                string address = AddressFor(null);
                if (address == null)
                {
                    Fail(JoinRandomFailed, OperationFailed, "propwash: there is no lobby to find a room in; set Network.Coordinator, or Network.JoinAddress to a host's ip:port");
                    return false;
                }
                return Join(address, null, address, JoinRandomFailed);
            }
            wantMap = Expected(expected, settings.MapIdProperty.Value);
            wantTrack = Expected(expected, settings.TrackIdProperty.Value);
            StringBuilder query = new StringBuilder("{\"limit\":" + RoomsPerPage);
            if (!settings.JoinAsSpectator.Value && !settings.SpectateIfFull.Value) query.Append(",\"min_free_pilots\":1");
            if (string.IsNullOrEmpty(settings.RoomPassword.Value)) query.Append(",\"has_password\":false");
            if (wantMap != null) query.Append(",\"map_id\":").Append(LobbyText.Quote(wantMap));
            query.Append('}');
            try
            {
                searchRequest = browser.List(coordinator, GameVersion(), query.ToString());
            }
            catch (Exception e)
            {
                log.LogError("the lobby at " + coordinator + " cannot be asked: " + e.Message);
                Fail(JoinRandomFailed, OperationFailed, "propwash: the lobby cannot be asked: " + Message(e));
                return false;
            }
            searching = true;
            searchDeadline = Time.realtimeSinceStartup + LobbyAnswerSeconds;
            log.LogInfo("looking for an open room at " + coordinator + " (game version " + GameVersion() + ")");
            return true;
        }

        /// <summary>Photon's lobby: OnJoinedLobby, then the coordinator's rooms as OnRoomListUpdate, refreshed until LeaveLobby or a room.</summary>
        public bool JoinLobby()
        {
            if (session != null)
            {
                Warn("JoinLobby in a room is refused, as Photon does");
                return false;
            }
            if (!InLobby)
            {
                InLobby = true;
                Defer("OnJoinedLobby");
            }
            nextRoomList = 0f; // asked in the next Update
            if (Coordinator() == null)
            {
                Warn("JoinLobby: " + NoLobbyReason() + ", so the room list stays empty; rooms are joined by address");
                ShowRooms(new List<ListedRoom>());
            }
            return true;
        }

        public bool LeaveLobby()
        {
            if (!InLobby) return false;
            InLobby = listPending = false;
            Defer("OnLeftLobby");
            return true;
        }

        public bool LeaveRoom()
        {
            if (session == null)
            {
                if (searching) log.LogInfo("the room search was called off (LeaveRoom)");
                searching = false;
                return false;
            }
            leaving = true;
            joinPending = false;
            session.Leave(); // the CLOSED event that follows raises OnLeftRoom (then OnConnectedToMaster)
            return true;
        }

        /// <summary>OnLeftRoom when in a room, then OnDisconnected(DisconnectByClientLogic); no OnConnectedToMaster.</summary>
        public void Disconnect()
        {
            bool wasInRoom = InRoom;
            EndSession();
            Connected = InLobby = searching = listPending = false;
            if (wasInRoom) Defer("OnLeftRoom");
            Defer("OnDisconnected", new PhotonGlue.EnumName("DisconnectByClientLogic"));
        }

        public bool RaiseEvent(byte code, object content, object options)
        {
            if (!InRoom) return false;
            string error;
            byte[] payload = ValueCodec.EncodeEvent(content, glue, out error);
            if (payload == null)
            {
                Warn("RaiseEvent " + code + " not sent: " + error);
                return false;
            }
            int receivers = 0; // ReceiverGroup.Others
            int[] targets = null;
            if (options != null)
            {
                object r = PhotonGlue.GetMember(options, "Receivers");
                if (r != null) receivers = Convert.ToInt32(r);
                targets = PhotonGlue.GetMember(options, "TargetActors") as int[];
                // Photon's event cache (late joiners get cached events) has no propwash counterpart.
                object cache = PhotonGlue.GetMember(options, "CachingOption");
                if (cache != null && Convert.ToInt32(cache) != 0) Warn("RaiseEvent: CachingOption is not supported; late joiners will not get cached events");
            }
            try
            {
                if (targets != null && targets.Length > 0)
                {
                    bool all = true;
                    foreach (int actor in targets)
                    {
                        all &= session.SendEvent(code, EventTarget.Actor, (ushort)actor, payload);
                    }
                    return all;
                }
                EventTarget target = receivers == 1 ? EventTarget.All : receivers == 2 ? EventTarget.Host : EventTarget.Others;
                return session.SendEvent(code, target, 0, payload);
            }
            catch (PropwashException e)
            {
                log.LogError("RaiseEvent " + code + ": " + e.Message);
                return false;
            }
        }

        public bool SetRoomProperties(IDictionary properties)
        {
            if (session == null || properties == null) return false;
            if (!isHost)
            {
                Warn("only the host can change room properties in propwash (Photon let any client); the change was not sent");
                return false;
            }
            bool ok = ApplyProperties(properties, true, false);
            if (listing != null && listing.Absorb(properties, settings)) UpdateListing();
            return ok;
        }

        public bool SetPlayerProperties(object player, IDictionary properties)
        {
            if (session == null || properties == null) return false;
            object isLocal = player == null ? null : PhotonGlue.GetMember(player, "IsLocal") ?? PhotonGlue.GetMember(player, "isLocal");
            if (isLocal is bool && !(bool)isLocal)
            {
                Warn("propwash only sets the local player's properties; a change to another player was not sent");
                return false;
            }
            return ApplyProperties(properties, false, false);
        }

        /// <summary>
        /// One SetCustomProperties: all its keys in one library call, so that everyone gets one change
        /// with all of them, as in Photon. A key that cannot be sent (no serializer, over the library's
        /// size) is left out with a warning; the others still go. <paramref name="initial"/>
        /// (CreateRoom's properties) are the room's first state: in the view at once, their echo not
        /// raised. The host hears no echo of its own player properties from the library, so their
        /// change is raised here, in the next Update.
        /// </summary>
        private bool ApplyProperties(IDictionary properties, bool room, bool initial)
        {
            bool ok = true;
            // Encoded key to encoded value (null: remove), in the game's order; a repeated key's last value wins.
            List<string> keys = new List<string>();
            Dictionary<string, string> changes = new Dictionary<string, string>();
            foreach (DictionaryEntry e in properties)
            {
                string key = ValueCodec.EncodeKey(e.Key), value = null;
                if (e.Value == null)
                {
                    if (initial) continue; // nothing to remove yet
                }
                else if ((value = ValueCodec.EncodeValue(e.Value, glue)) == null)
                {
                    Warn("property " + key + ": no Photon serializer for a " + e.Value.GetType().Name + "; not sent");
                    ok = false;
                    continue;
                }
                string unfit = Unfit(key, value);
                if (unfit != null)
                {
                    Warn("property " + (key.Length > 64 ? key.Substring(0, 64) + "..." : key) + ": " + unfit + "; not sent");
                    ok = false;
                    continue;
                }
                if (!changes.ContainsKey(key)) keys.Add(key);
                changes[key] = value;
            }
            if (keys.Count == 0) return false;
            StringBuilder json = new StringBuilder("{");
            foreach (string key in keys)
            {
                if (json.Length > 1) json.Append(',');
                string value = changes[key];
                json.Append(LobbyText.Quote(key)).Append(':').Append(value == null ? "null" : LobbyText.Quote(value));
            }
            json.Append('}');
            try
            {
                if (!(room ? session.SetRoomPropertiesJson(json.ToString()) : session.SetPlayerPropertiesJson(json.ToString()))) return false;
            }
            catch (PropwashException e)
            {
                log.LogError((room ? "room" : "player") + " properties " + string.Join(", ", keys.ToArray()) + ": " + e.Message);
                return false;
            }
            if (room && initial)
            {
                foreach (string key in keys)
                {
                    initialEcho[key] = changes[key];
                    SetRoomView(key, changes[key]);
                }
            }
            if (!room && isHost) LocalPlayerChanged(keys, changes);
            return ok;
        }

        /// <summary>Why the library would refuse this key or value (empty key, over <see cref="Limits.MaxPropertyBytes"/>); null when it fits.</summary>
        private static string Unfit(string key, string value)
        {
            int k = Encoding.UTF8.GetByteCount(key), v = value == null ? 0 : Encoding.UTF8.GetByteCount(value);
            if (k == 0) return "an empty key";
            if (k > Limits.MaxPropertyBytes) return "the key is " + k + " bytes, more than the " + Limits.MaxPropertyBytes + " a key may have";
            if (v > Limits.MaxPropertyBytes) return "the value is " + v + " bytes (encoded), more than the " + Limits.MaxPropertyBytes + " a value may have";
            return null;
        }

        // ---- opening and closing --------------------------------------------

        private string AddressFor(string roomName)
        {
            // A room name that is an address wins: "192.168.1.20:5056" joins that host.
            if (!string.IsNullOrEmpty(roomName) && roomName.IndexOf(':') > 0 && char.IsDigit(roomName[roomName.Length - 1]))
            {
                return roomName.Trim();
            }
            string configured = (settings.JoinAddress.Value ?? "").Trim();
            return configured.Length > 0 ? configured : null;
        }

        /// <summary>Network.Coordinator when it is ip:port; null (one warning if it is something else) when the lobby is off.</summary>
        private string Coordinator()
        {
            string c = (settings.Coordinator.Value ?? "").Trim();
            if (c.Length == 0) return null;
            if (LobbyText.IsIpPort(c)) return c;
            Warn("Network.Coordinator \"" + c + "\" is not ip:port (an IP address, not a host name); the lobby is off");
            return null;
        }

        /// <summary>Why there is no lobby: Network.Coordinator is empty, or is not ip:port.</summary>
        private string NoLobbyReason()
        {
            string c = (settings.Coordinator.Value ?? "").Trim();
            return c.Length == 0 ? "Network.Coordinator is empty" : "Network.Coordinator \"" + c + "\" is not ip:port";
        }

        /// <summary>The session id of a room the room list showed by that name, or of a name that is a session id (16 hex digits).</summary>
        private string ListedSessionFor(string roomName)
        {
            if (string.IsNullOrEmpty(roomName) || Coordinator() == null) return null;
            string id;
            if (listedRooms.TryGetValue(roomName, out id)) return id;
            string s = roomName.Trim();
            if (s.Length != 16) return null;
            foreach (char c in s)
            {
                if (!Uri.IsHexDigit(c)) return null;
            }
            return s;
        }

        private static string Expected(IDictionary expected, string key)
        {
            key = (key ?? "").Trim();
            if (expected == null || key.Length == 0 || !expected.Contains(key)) return null;
            string v = LobbyText.Text(expected[key]);
            return v.Length > 0 ? v : null;
        }

        private static IDictionary RoomOptionsProperties(object roomOptions)
        {
            if (roomOptions == null) return null;
            return (PhotonGlue.GetMember(roomOptions, "CustomRoomProperties") ?? PhotonGlue.GetMember(roomOptions, "customRoomProperties")) as IDictionary;
        }

        private static string Message(Exception e)
        {
            PropwashException p = e as PropwashException;
            return p != null ? p.NativeMessage : e.Message;
        }

        private string GameVersion()
        {
            string v = settings.GameVersion.Value;
            return string.IsNullOrEmpty(v) ? Application.version : v;
        }

        private int Rate(int configured)
        {
            int game = GameSerializationRate;
            return settings.FollowGameRates.Value && game > 0 ? Math.Max(10, Math.Min(240, game)) : configured;
        }

        /// <summary>True (and <paramref name="failCallback"/> raised) while a room or a room search is under way.</summary>
        private bool Busy(string failCallback)
        {
            if (session != null)
            {
                Fail(failCallback, OperationFailed, "propwash: already in a room");
                return true;
            }
            if (searching)
            {
                Fail(failCallback, OperationFailed, "propwash: still looking for a room (JoinRandomRoom)");
                return true;
            }
            return false;
        }

        /// <summary>
        /// Opens a room; listed at the coordinator when one is set. The Photon room options'
        /// CustomRoomProperties become the room's first properties, as in Photon.
        /// </summary>
        private bool Host(string roomName, object roomOptions)
        {
            if (Busy(CreateRoomFailed)) return false;
            LocalPlayer me = LocalPlayer.Load(settings, identity, log);
            string coordinator = Coordinator();
            IDictionary initial = RoomOptionsProperties(roomOptions);
            RoomListing listed = null;
            if (coordinator != null)
            {
                listed = new RoomListing(roomName, me.Name);
                listed.Absorb(initial, settings);
            }
            HostOptions o = new HostOptions
            {
                BindAddress = settings.BindAddress.Value + ":" + settings.GamePort.Value,
                GameVersion = GameVersion(),
                PlayerName = me.Name,
                PlayerId = me.Id,
                PilotHz = Rate(settings.PilotHz.Value),
                SpectatorHz = settings.SpectatorHz.Value,
                MaxPilots = settings.MaxPilots.Value,
                MaxSpectators = settings.MaxSpectators.Value,
                Password = settings.RoomPassword.Value ?? "",
                RequireVerified = settings.RequireVerified.Value,
                CoordinatorAddress = coordinator ?? "",
                ListingJson = listed == null ? "" : listed.ToJson(settings.LobbyMode.Value),
            };
            try
            {
                session = PropwashSession.Host(o);
            }
            catch (Exception e)
            {
                log.LogError("hosting failed: " + e.Message);
                Fail(CreateRoomFailed, OperationFailed, e.Message);
                return false;
            }
            Opened(CreateRoomFailed, listed != null, roomName, me);
            listing = listed;
            isHost = seated = true;
            ourActor = 1;
            ourRole = Role.Pilot;
            log.LogInfo("hosting room \"" + roomName + "\" on UDP " + session.Info().LocalPort + " (game version " + o.GameVersion + ")"
                + (listed != null ? ", listing it at " + coordinator + " as \"" + listed.Name + "\"" : ", not listed (" + NoLobbyReason() + ")")
                + (o.Password.Length > 0 ? ", password set" : "")
                + (o.RequireVerified ? ", Steam-verified players only" : ""));
            OpenRoomView(o.MaxPilots);
            // The room's first state, as Photon's CreateRoom takes it: no OnRoomPropertiesUpdate.
            if (initial != null && initial.Count > 0) ApplyProperties(initial, true, true);
            PlayerRecord self = LocalRecord();
            players[ourActor] = self;
            DeferAction(() =>
            {
                PlayerRecord still;
                if (players.TryGetValue(1, out still) && still == self) RaisePlayerJoined(self);
            });
            Defer("OnCreatedRoom");
            Defer("OnJoinedRoom");
            return true;
        }

        /// <summary>Joins the host at <paramref name="address"/>, or the listed room <paramref name="sessionId"/> through the coordinator.</summary>
        private bool Join(string address, string sessionId, string shownAs, string failCallback)
        {
            if (Busy(failCallback)) return false;
            string coordinator = null;
            if (sessionId != null && (coordinator = Coordinator()) == null)
            {
                Fail(failCallback, OperationFailed, "propwash: room \"" + shownAs + "\" is listed, but " + NoLobbyReason());
                return false;
            }
            LocalPlayer me = LocalPlayer.Load(settings, identity, log);
            JoinOptions o = new JoinOptions
            {
                HostAddress = address ?? "",
                CoordinatorAddress = coordinator ?? "",
                SessionId = sessionId ?? "",
                Password = settings.RoomPassword.Value ?? "",
                GameVersion = GameVersion(),
                PlayerName = me.Name,
                PlayerId = me.Id,
                Role = settings.JoinAsSpectator.Value ? Role.Spectator : Role.Pilot,
                SpectateIfFull = settings.SpectateIfFull.Value,
                SendHz = Rate(settings.SendHz.Value),
            };
            try
            {
                session = PropwashSession.Join(o);
            }
            catch (Exception e)
            {
                log.LogError("joining " + shownAs + " failed: " + e.Message);
                Fail(failCallback, OperationFailed, e.Message);
                return false;
            }
            Opened(failCallback, sessionId != null, shownAs, me);
            log.LogInfo(sessionId != null
                ? "joining listed room \"" + shownAs + "\" (" + sessionId + ") through " + coordinator + " as " + o.Role
                : "joining " + address + " as " + o.Role);
            return true; // OnJoinedRoom follows the WELCOMED event
        }

        /// <summary>A session just opened: Photon leaves its lobby when it enters a room.</summary>
        private void Opened(string failCallback, bool throughLobby, string name, LocalPlayer me)
        {
            this.failCallback = failCallback;
            failRaised = coordinatorDown = false;
            lobbySide = throughLobby;
            InLobby = listPending = false;
            roomName = name ?? "";
            local = me;
            dropped = 0;
        }

        private void EndSession()
        {
            if (session != null) session.Dispose();
            session = null;
            seated = isHost = clockSynced = leaving = joinPending = false;
            lobbySide = coordinatorDown = failRaised = false;
            failCallback = JoinRoomFailed;
            lateClose = null;
            listing = null;
            ourActor = 0;
            pilotCount = 0;
            dropped = 0;
            roomName = null;
            players.Clear();
            drones.Reset();
            roomView = photonRoomProperties = null;
            photonRoom = null;
            initialEcho.Clear();
        }

        // ---- the room's state -------------------------------------------------

        /// <summary>An empty view of the room's properties, and the Photon Room CurrentRoom returns.</summary>
        private void OpenRoomView(int maxPlayers)
        {
            roomView = glue.NewHashtable();
            photonRoom = glue.NewRoom(roomName, maxPlayers, out photonRoomProperties);
        }

        /// <summary>One property (encoded key and value; null: removed) into the view and CurrentRoom; returns the decoded value.</summary>
        private object SetRoomView(string key, string value)
        {
            object k = ValueCodec.DecodeKey(key);
            object v = ValueCodec.DecodeValue(value, glue);
            if (roomView == null) return v;
            if (value == null) roomView.Remove(k);
            else roomView[k] = v;
            // Photon's Room keeps only string keys as custom properties.
            if (photonRoomProperties != null && k is string)
            {
                if (value == null) photonRoomProperties.Remove(k);
                else photonRoomProperties[k] = v;
            }
            return v;
        }

        /// <summary>Joiner: the room's properties as the welcome brought them, every key.</summary>
        private void LoadRoomProperties()
        {
            Dictionary<string, object> all = Json.Parse(session.RoomPropertiesJson()) as Dictionary<string, object>;
            if (all == null) throw new FormatException("the room's properties are not a JSON object");
            foreach (KeyValuePair<string, object> kv in all)
            {
                string value = kv.Value as string;
                if (value != null) SetRoomView(kv.Key, value);
            }
        }

        /// <summary>Our own record as the library has it (seat, verification), or null when its room state does not have us yet.</summary>
        private PlayerRecord SeatedSelf()
        {
            List<object> all = Json.Parse(session.PlayersJson()) as List<object>;
            if (all == null) return null;
            foreach (object o in all)
            {
                PlayerRecord p = PlayerRecord.From(o);
                if (p.Actor == ourActor) return p;
            }
            return null;
        }

        /// <summary>Our own record: the library's, else one made from the welcome.</summary>
        private PlayerRecord LocalRecord()
        {
            PlayerRecord self = null;
            try
            {
                self = SeatedSelf();
            }
            catch (Exception e)
            {
                log.LogDebug("the player list could not be read: " + Message(e));
            }
            return self ?? new PlayerRecord { Actor = ourActor, Role = ourRole, Seat = ourRole == Role.Pilot && ourActor == 1 ? 0 : -1, Name = local.Name, PlayerId = local.Id };
        }

        /// <summary>
        /// Joiner, after the welcome: once the library's room state has us (it is published just after
        /// the event), the room's properties are read, we are in Players, and OnJoinedRoom is raised.
        /// False while waiting (at most <see cref="JoinStateSeconds"/>); events stay queued meanwhile.
        /// </summary>
        private bool FinishJoin()
        {
            PlayerRecord self = null;
            try
            {
                self = SeatedSelf();
            }
            catch (Exception e)
            {
                log.LogDebug("the player list could not be read: " + Message(e));
            }
            bool fresh = self != null;
            if (!fresh && Time.realtimeSinceStartup < joinDeadline) return false;
            if (!fresh) Warn("the room's state did not follow the welcome; the room's properties may be missing until they change");
            joinPending = false;
            seated = true;
            OpenRoomView(0);
            try
            {
                LoadRoomProperties();
            }
            catch (Exception e)
            {
                log.LogError("the room's properties could not be read: " + Message(e));
            }
            if (self == null) self = LocalRecord();
            players[ourActor] = self;
            log.LogInfo("seated as actor " + ourActor + " (" + ourRole + ")");
            RaisePlayerJoined(self);
            glue.Callback("OnJoinedRoom");
            return true;
        }

        private void RaisePlayerJoined(PlayerRecord p)
        {
            if (PlayerJoined == null) return;
            try
            {
                PlayerJoined(p);
            }
            catch (Exception e)
            {
                log.LogError("a PlayerJoined handler threw: " + e);
            }
        }

        /// <summary>
        /// A room change from the library (one SetCustomProperties call): into the view and CurrentRoom,
        /// then one OnRoomPropertiesUpdate with all its keys, as PUN raises one per call.
        /// </summary>
        private void RoomChanged(string json)
        {
            Dictionary<string, object> changes = Json.Parse(json) as Dictionary<string, object>;
            if (changes == null) return;
            IDictionary table = null;
            foreach (KeyValuePair<string, object> kv in changes)
            {
                string value = kv.Value as string, echo;
                if (initialEcho.TryGetValue(kv.Key, out echo))
                {
                    initialEcho.Remove(kv.Key);
                    if (echo == value) continue; // CreateRoom's own: already in the view, and Photon raises nothing
                }
                object v = SetRoomView(kv.Key, value);
                if (table == null) table = glue.NewHashtable();
                table[ValueCodec.DecodeKey(kv.Key)] = v;
            }
            if (table == null) return;
            glue.Callback("OnRoomPropertiesUpdate", table);
            glue.Callback("OnPhotonCustomRoomPropertiesChanged", table);
        }

        /// <summary>A player's change from the library (one SetCustomProperties call): into their record, then one PlayerPropertiesChanged.</summary>
        private void PlayerChanged(ushort actor, string json)
        {
            Dictionary<string, object> changes = Json.Parse(json) as Dictionary<string, object>;
            if (changes == null || changes.Count == 0) return;
            PlayerRecord who;
            players.TryGetValue(actor, out who);
            IDictionary table = glue.NewHashtable();
            foreach (KeyValuePair<string, object> kv in changes)
            {
                string value = kv.Value as string;
                if (who != null)
                {
                    if (value == null) who.Props.Remove(kv.Key);
                    else who.Props[kv.Key] = value;
                }
                table[ValueCodec.DecodeKey(kv.Key)] = ValueCodec.DecodeValue(value, glue);
            }
            RaisePlayerPropertiesChanged(actor, table);
        }

        /// <summary>
        /// Host: our own player properties were sent (the library does not echo them to the host): our
        /// record now, their PlayerPropertiesChanged in the next Update (as a change a client makes
        /// comes back), unless the session has ended by then.
        /// </summary>
        private void LocalPlayerChanged(List<string> keys, Dictionary<string, string> changes)
        {
            PlayerRecord self;
            players.TryGetValue(ourActor, out self);
            IDictionary table = glue.NewHashtable();
            foreach (string key in keys)
            {
                string value = changes[key];
                if (self != null)
                {
                    if (value == null) self.Props.Remove(key);
                    else self.Props[key] = value;
                }
                table[ValueCodec.DecodeKey(key)] = ValueCodec.DecodeValue(value, glue);
            }
            PropwashSession sentIn = session;
            ushort actor = ourActor;
            DeferAction(() =>
            {
                if (session == sentIn) RaisePlayerPropertiesChanged(actor, table);
            });
        }

        private void RaisePlayerPropertiesChanged(ushort actor, IDictionary changes)
        {
            if (PlayerPropertiesChanged == null) return;
            try
            {
                PlayerPropertiesChanged(actor, changes);
            }
            catch (Exception e)
            {
                log.LogError("a PlayerPropertiesChanged handler threw: " + e);
            }
        }

        public void Dispose()
        {
            EndSession();
            browser.Dispose();
        }

        private void UpdateListing()
        {
            try
            {
                session.UpdateListing(listing.ToJson(settings.LobbyMode.Value));
                log.LogInfo("room listing updated: map \"" + listing.MapId + "\", track \"" + listing.TrackId + "\", " + listing.Laps + " laps");
            }
            catch (Exception e)
            {
                log.LogError("the room listing was not updated: " + Message(e));
            }
        }

        // ---- per tick -------------------------------------------------------

        /// <summary>FixedUpdate: our drone out, the others in. Allocation-free.</summary>
        internal void FixedTick()
        {
            // Once LeaveRoom is called nothing more is pushed: the session is closing.
            if (!InRoom || leaving) return;
            try
            {
                PilotFrame frame;
                if (drones.Capture(out frame) && !session.PushLocal(in frame) && ++dropped % 600 == 1)
                {
                    log.LogWarning("local frames are being dropped (" + dropped + " so far): the network thread is behind or the room closed");
                }
                pilotCount = session.ReadPilotsInterpolated(settings.InterpolationDelayMs.Value, pilots);
                drones.Apply(pilots, pilotCount);
            }
            catch (PropwashException e)
            {
                if (tickErrors++ % 500 == 0) log.LogError("tick (" + tickErrors + " errors so far): " + e.Message);
            }
        }

        /// <summary>Update: deferred callbacks, lobby answers, then the session's lobby reports and every queued event.</summary>
        internal void FrameTick()
        {
            if (deferred.Count > 0)
            {
                Action[] due = deferred.ToArray();
                deferred.Clear();
                foreach (Action a in due) a();
            }
            if (searching || listPending || (InLobby && session == null)) TickLobby(Time.realtimeSinceStartup);
            if (session == null) return;
            if (!clockSynced) clockSynced = session.Info().ClockSynced;
            // Before the events: a listed join's join_failed says why before its CLOSED ends the session.
            if (lobbySide) DrainLobbyReports();
            if (lateClose != null)
            {
                CloseReason reason = lateClose.Value;
                Close(reason);
                return;
            }
            if (joinPending && !FinishJoin()) return;
            SessionEvent ev;
            for (int i = 0; i < EventsPerFrame && session != null && !joinPending && session.TryPollEvent(out ev); i++)
            {
                try
                {
                    Handle(ev);
                }
                catch (Exception e)
                {
                    log.LogError("handling " + ev.Kind + ": " + e);
                }
            }
        }

        private void Defer(string callback, params object[] args)
        {
            deferred.Add(() => glue.Callback(callback, args));
        }

        private void DeferAction(Action action)
        {
            deferred.Add(action);
        }

        private void Fail(string callback, short code, string message)
        {
            Defer(callback, code, message);
        }

        private void Handle(SessionEvent ev)
        {
            switch (ev.Kind)
            {
                case EventKind.Welcomed:
                    ourActor = ev.Actor;
                    ourRole = ev.Role;
                    joinPending = true;
                    joinDeadline = Time.realtimeSinceStartup + JoinStateSeconds;
                    FinishJoin();
                    break;
                case EventKind.Refused:
                    // The library's words, e.g. for WrongPassword, NotVerified and SteamIdInUse.
                    string why = ev.Text();
                    log.LogWarning("the host refused us (" + ev.RefuseReason + "): " + why);
                    short code = ev.RefuseReason == RefuseReason.PilotsFull || ev.RefuseReason == RefuseReason.SpectatorsFull ? GameFull
                        : ev.RefuseReason == RefuseReason.RoomClosed ? GameClosed : OperationFailed;
                    JoinFailed(code, why);
                    break;
                case EventKind.PlayerJoined:
                    PlayerRecord p = PlayerRecord.From(Json.Parse(ev.Text()));
                    bool known = players.ContainsKey(p.Actor);
                    players[p.Actor] = p;
                    if (known) break; // our own seat, already announced
                    log.LogInfo("player " + p.Actor + " \"" + p.Name + "\" joined as " + p.Role);
                    if (PlayerJoined != null) PlayerJoined(p);
                    break;
                case EventKind.PlayerLeft:
                    players.Remove(ev.Actor);
                    drones.Forget(ev.Actor);
                    log.LogInfo("player " + ev.Actor + " left (" + ev.CloseReason + ")");
                    if (PlayerLeft != null) PlayerLeft(ev.Actor, ev.CloseReason);
                    break;
                case EventKind.GameEvent:
                    if (GameEventReceived != null) GameEventReceived(ev.Code, ev.Actor, ev.Data);
                    glue.DeliverEvent(ev.Code, ev.Actor, ValueCodec.DecodeEvent(ev.Data, glue));
                    break;
                case EventKind.RoomPropertiesChanged:
                    RoomChanged(ev.Text());
                    break;
                case EventKind.PlayerPropertiesChanged:
                    PlayerChanged(ev.Actor, ev.Text());
                    break;
                case EventKind.Closed:
                    if (!seated && !leaving && lobbySide && !failRaised && lateClose == null)
                    {
                        // A listed join's join_failed report is sent just after its CLOSED: it says
                        // why, so it gets until the next Update to arrive.
                        DrainLobbyReports();
                        if (!failRaised)
                        {
                            lateClose = ev.CloseReason;
                            break;
                        }
                    }
                    Close(ev.CloseReason);
                    break;
            }
        }

        private void Close(CloseReason reason)
        {
            bool ours = leaving, wasSeated = seated, failed = failRaised;
            string callback = failCallback;
            log.LogInfo("the session closed (" + reason + ")");
            EndSession();
            if (wasSeated)
            {
                glue.Callback("OnLeftRoom");
                if (ours)
                {
                    // PUN 2 goes back to the master server after a room and says so; games wait for it
                    // before matchmaking again.
                    if (Connected) glue.Callback("OnConnectedToMaster");
                }
                else
                {
                    Connected = false;
                    glue.Callback("OnDisconnected", new PhotonGlue.EnumName(DisconnectCauseOf(reason)));
                }
            }
            else if (!ours && !failed)
            {
                // A join nobody said why to (REFUSED and join_failed raise the callback themselves).
                glue.Callback(callback, OperationFailed, reason == CloseReason.TimedOut ? "propwash: the host did not answer"
                    : reason == CloseReason.Refused ? "propwash: the join was refused (the room may be gone)" : "propwash: the join ended (" + reason + ")");
            }
        }

        /// <summary>PUN 2's DisconnectCause for a room that ended without us asking.</summary>
        private static string DisconnectCauseOf(CloseReason reason)
        {
            switch (reason)
            {
                case CloseReason.TimedOut: return "ClientTimeout";
                case CloseReason.RoomClosed: return "DisconnectByServerLogic";
                default: return "DisconnectByServerReasonUnknown";
            }
        }

        /// <summary>The join in progress failed: its *Failed callback, once.</summary>
        private void JoinFailed(short code, string message)
        {
            if (failRaised) return;
            failRaised = true;
            glue.Callback(failCallback, code, message);
        }

        // ---- the lobby ------------------------------------------------------

        /// <summary>The session's lobby reports (kind: registered, hosting_failed, ... join_failed), logged; join_failed fails the join.</summary>
        private void DrainLobbyReports()
        {
            for (int i = 0; i < LobbyReportsPerFrame && session != null; i++)
            {
                string json;
                try
                {
                    if (!session.TryPollLobbyEvent(out json)) return;
                }
                catch (PropwashException e)
                {
                    if (tickErrors++ % 500 == 0) log.LogError("lobby report (" + tickErrors + " errors so far): " + e.Message);
                    return;
                }
                try
                {
                    LobbyReport(json);
                }
                catch (Exception e)
                {
                    log.LogError("handling the lobby report " + json + ": " + e);
                }
            }
        }

        private void LobbyReport(string json)
        {
            Dictionary<string, object> r = Json.Parse(json) as Dictionary<string, object>;
            string kind = LobbyText.Str(r, "kind") ?? "";
            string message = LobbyText.Str(r, "message") ?? "";
            string code = LobbyText.Str(r, "code") ?? "";
            if (kind != "coordinator_unreachable") coordinatorDown = false;
            switch (kind)
            {
                case "registered":
                    log.LogInfo("the room is listed: session " + LobbyText.Str(r, "session_id") + ", public address " + LobbyText.Str(r, "public_addr"));
                    break;
                case "hosting_failed":
                    log.LogError("the room could not be listed (" + code + "): " + message);
                    break;
                case "update_refused":
                    log.LogWarning("the coordinator refused the listing update (" + code + "): " + message);
                    break;
                case "coordinator_unreachable":
                    if (!coordinatorDown) log.LogWarning("lobby: " + (message.Length > 0 ? message : "the coordinator does not answer"));
                    coordinatorDown = true;
                    break;
                case "introduced":
                    log.LogInfo("lobby: introduced to " + LobbyText.Str(r, "peer") + " (we are the " + LobbyText.Str(r, "role") + ")");
                    break;
                case "connected":
                    log.LogInfo("lobby: path to " + LobbyText.Str(r, "peer") + " found (" + LobbyText.Str(r, "path") + ")");
                    break;
                case "join_failed":
                    log.LogWarning("joining the listed room failed (" + code + "): " + message);
                    JoinFailed(OperationFailed, message.Length > 0 ? message : "propwash: joining the listed room failed (" + code + ")");
                    break;
                default:
                    log.LogDebug("lobby: " + json);
                    break;
            }
        }

        /// <summary>The browser's answers, while one is awaited; the room list asked again every Lobby.RefreshSeconds while in Photon's lobby.</summary>
        private void TickLobby(float now)
        {
            if (InLobby && session == null && !listPending && now >= nextRoomList) AskRoomList(now);
            if (!searching && !listPending) return;
            for (int i = 0; i < LobbyAnswersPerFrame; i++)
            {
                LobbyAnswer a;
                try
                {
                    if (!browser.TryNext(out a)) break;
                }
                catch (Exception e)
                {
                    log.LogError("lobby answer: " + Message(e));
                    break;
                }
                if (searching && a.RequestId == searchRequest)
                {
                    searching = false;
                    Found(a);
                }
                else if (listPending && a.RequestId == listRequest)
                {
                    listPending = false;
                    if (a.Ok) ShowRooms(a.Rooms);
                    else Warn("the room list could not be had: " + a.Message);
                }
            }
            if (searching && now > searchDeadline)
            {
                searching = false;
                log.LogWarning("the lobby did not answer the room search");
                Fail(JoinRandomFailed, OperationFailed, "propwash: the lobby did not answer");
            }
            if (listPending && now > listDeadline)
            {
                listPending = false;
                Warn("the lobby did not answer a room list request");
            }
        }

        private void AskRoomList(float now)
        {
            nextRoomList = now + settings.LobbyRefreshSeconds.Value;
            string coordinator = Coordinator();
            if (coordinator == null) return;
            try
            {
                listRequest = browser.List(coordinator, GameVersion(), "{\"limit\":" + RoomsPerPage + "}");
                listPending = true;
                listDeadline = now + LobbyAnswerSeconds;
            }
            catch (Exception e)
            {
                Warn("the room list cannot be asked at " + coordinator + ": " + Message(e));
            }
        }

        /// <summary>JoinRandomRoom's answer: the first room that fits is joined, else OnJoinRandomFailed.</summary>
        private void Found(LobbyAnswer a)
        {
            if (!a.Ok)
            {
                log.LogWarning("the lobby could not list rooms: " + a.Message);
                Fail(JoinRandomFailed, OperationFailed, "propwash: the lobby could not list rooms: " + a.Message);
                return;
            }
            ListedRoom pick = Pick(a.Rooms);
            if (pick == null)
            {
                log.LogInfo("no open rooms for game version " + GameVersion() + " (" + a.Total + " listed rooms matched the query)");
                Fail(JoinRandomFailed, NoRandomMatchFound, "propwash: no open rooms for " + GameVersion());
                return;
            }
            Join(null, pick.SessionId, pick.Name, JoinRandomFailed);
        }

        /// <summary>The first room with a seat for us: a free pilot seat first, else (spectators, SpectateIfFull) a spectator seat.</summary>
        private ListedRoom Pick(List<ListedRoom> rooms)
        {
            bool pilot = !settings.JoinAsSpectator.Value;
            ListedRoom spectatorSeat = null;
            foreach (ListedRoom r in rooms)
            {
                if (r.SessionId.Length == 0) continue;
                if (wantMap != null && r.MapId != wantMap) continue;
                if (wantTrack != null && r.TrackId != wantTrack) continue;
                if (pilot && r.FreePilots > 0) return r;
                if (spectatorSeat == null && r.FreeSpectators > 0) spectatorSeat = r;
            }
            return pilot && !settings.SpectateIfFull.Value ? null : spectatorSeat;
        }

        /// <summary>
        /// A page of the list as PUN 2's OnRoomListUpdate(List&lt;RoomInfo&gt;): every room, plus the
        /// ones shown before and gone now marked RemovedFromList (PUN sends changes; the game's
        /// cache must handle both). MaxPlayers / PlayerCount count pilot seats; IsOpen says whether
        /// there is a seat for us. Names are made unique, and JoinRoom(name) joins that room.
        /// </summary>
        private void ShowRooms(List<ListedRoom> rooms)
        {
            listedRooms.Clear();
            foreach (ListedRoom r in rooms)
            {
                string name = r.Name.Length > 0 ? r.Name : r.SessionId;
                if (listedRooms.ContainsKey(name)) name = name + " (" + r.SessionId + ")";
                listedRooms[name] = r.SessionId;
            }
            IList list = glue.NewRoomList();
            if (list == null) return;
            try
            {
                foreach (KeyValuePair<string, string> shown in listedRooms)
                {
                    ListedRoom r = rooms.Find(x => x.SessionId == shown.Value);
                    list.Add(glue.NewRoomInfo(shown.Key, RoomInfoProperties(r)));
                }
                foreach (string gone in shownRooms)
                {
                    if (listedRooms.ContainsKey(gone)) continue;
                    IDictionary removed = glue.NewRoomProperties();
                    removed[(byte)251] = true;
                    list.Add(glue.NewRoomInfo(gone, removed));
                }
            }
            catch (Exception e)
            {
                Warn("the room list could not be built as Photon rooms, OnRoomListUpdate is not raised: " + (e.InnerException ?? e).Message);
                return;
            }
            shownRooms.Clear();
            shownRooms.UnionWith(listedRooms.Keys);
            Defer("OnRoomListUpdate", list);
        }

        /// <summary>Photon's well-known room keys, the [Lobby] property keys, and propwash's own (pw.*).</summary>
        private IDictionary RoomInfoProperties(ListedRoom r)
        {
            IDictionary p = glue.NewRoomProperties();
            bool open = settings.JoinAsSpectator.Value ? r.FreeSpectators > 0 : r.FreePilots > 0 || (settings.SpectateIfFull.Value && r.FreeSpectators > 0);
            p[(byte)255] = (byte)Math.Min(255, r.Pilots);
            p[(byte)252] = (byte)Math.Min(255, r.CurrentPilots);
            p[(byte)253] = open;
            p[(byte)254] = true;
            string key = (settings.MapIdProperty.Value ?? "").Trim();
            if (key.Length > 0) p[key] = r.MapId;
            key = (settings.TrackIdProperty.Value ?? "").Trim();
            if (key.Length > 0) p[key] = r.TrackId;
            key = (settings.LapsProperty.Value ?? "").Trim();
            if (key.Length > 0) p[key] = r.Laps;
            p["pw.session_id"] = r.SessionId;
            p["pw.host"] = r.HostName;
            p["pw.has_password"] = r.HasPassword;
            p["pw.spectators"] = r.CurrentSpectators;
            p["pw.max_spectators"] = r.Spectators;
            return p;
        }
    }

    /// <summary>
    /// Who we are in a room: Player.NameOverride, else the game's profile-name (player-state.json),
    /// else the identity's name (Steam, or the offline name), else the OS user; the game's
    /// player-id, else the identity's.
    /// </summary>
    internal struct LocalPlayer
    {
        public string Name;
        public string Id;

        public static LocalPlayer Load(ShimSettings settings, IdentityWatch identity, ManualLogSource log)
        {
            string gameName, gameId;
            ReadGameProfile(log, out gameName, out gameId);
            PlayerIdentity id = identity == null ? null : identity.Current;
            return new LocalPlayer
            {
                Name = First(settings.PlayerName.Value, gameName, id == null ? null : id.Name, Environment.UserName),
                Id = First(gameId, id == null ? null : id.PlayerId, ""),
            };
        }

        /// <summary>profile-name and player-id from the game's player-state.json; null when absent or unreadable.</summary>
        public static void ReadGameProfile(ManualLogSource log, out string name, out string id)
        {
            name = id = null;
            string path = Path.Combine(Application.streamingAssetsPath, "game/storage/offline/state/player/player-state.json");
            try
            {
                if (!File.Exists(path)) return;
                Dictionary<string, object> state = Json.Parse(File.ReadAllText(path)) as Dictionary<string, object>;
                name = LobbyText.Str(state, "profile-name");
                id = LobbyText.Str(state, "player-id");
            }
            catch (Exception e)
            {
                log.LogWarning("could not read " + path + ": " + e.Message);
            }
        }

        public static string First(params string[] candidates)
        {
            foreach (string c in candidates)
            {
                if (!string.IsNullOrEmpty(c)) return c;
            }
            return "";
        }
    }
}
