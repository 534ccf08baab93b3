// Photon's servers as the game's PhotonPeer meets them, answered by
// propwash: the name server and the master (authentication, the lobby's
// room list from the coordinator, where a room is: an address the peer
// "connects" to next), and the game server (the room itself: a
// PropwashSession hosted or joined, its events, properties, groups and
// players turned into Photon's operation responses and events). The peer's
// operations come in through the patches on PhotonPeer; what Photon would
// send back waits in a queue that DispatchIncomingCommands hands to the
// peer's listener one at a time, so PUN's own state machine, callbacks,
// Instantiate, RPCs and view serialization run as they did against Photon.
// Main thread only; nothing here waits.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using BepInEx.Logging;
using ExitGames.Client.Photon;
using Hashtable = ExitGames.Client.Photon.Hashtable;

namespace Propwash.Shim
{
    internal sealed class PhotonServer : IDisposable
    {
        /// <summary>Where the name server sends the peer: the master is propwash too.</summary>
        public const string MasterAddress = "propwash-master:5055";
        /// <summary>Game server addresses are handed out per room: this prefix and a number.</summary>
        private const string GamePrefix = "propwash-game:";
        private const int SessionEventsPerPump = 512;
        /// <summary>Rooms asked for per lobby page (the library's most).</summary>
        private const int RoomsPerPage = 50;
        /// <summary>A lobby answer is given up on after this long.</summary>
        private const float LobbyAnswerSeconds = 20f;
        /// <summary>
        /// How long a seated joiner's welcome may wait for the host's clock (one round
        /// trip on a sound link; a loaded machine or a lossy link can take seconds, and
        /// a room started on this machine's clock shows wrong race times).
        /// </summary>
        private const double ClockWaitSeconds = 3.0;

        private readonly ShimSettings settings;
        private readonly ManualLogSource log;
        /// <summary>Pumps so far, to read the counters every so often.</summary>
        private uint pumps;
        /// <summary>Events the library dropped, as last reported.</summary>
        private ulong eventsDropped;
        private readonly IdentityWatch identity;
        private readonly PhotonPeer peer;
        /// <summary>What Photon would send back, in order. Locked: PUN may establish encryption from a thread of its own.</summary>
        private readonly Queue<Item> inbox = new Queue<Item>();
        private readonly Dictionary<string, Plan> plans = new Dictionary<string, Plan>();
        private readonly HashSet<string> warned = new HashSet<string>();
        private int connection, nextPlan;
        private bool connected, ratesSet;
        private string address = "";

        // The lobby: the room list while the peer is in Photon's lobby, and a search in progress.
        private readonly LobbyBrowser browser = new LobbyBrowser();
        private bool inLobby, listShown, listPending;
        private uint listRequest;
        private float nextList, listDeadline;
        /// <summary>Rooms by the name the list showed them under, as last shown.</summary>
        private readonly Dictionary<string, ListedRoom> shown = new Dictionary<string, ListedRoom>();
        private Search search;

        // The room.
        private PropwashSession session;
        private Plan room;
        private bool isHost, leaving, closedUnexpectedly;
        private uint me;
        private byte joinOp;
        private System.Diagnostics.Stopwatch clockWait;
        private Hashtable myProps;
        private readonly SortedDictionary<uint, bool> actors = new SortedDictionary<uint, bool>();
        private RoomListing listing;
        private uint nextRequest;
        /// <summary>Check-and-set requests in flight: what each expected, in the game's words, for a refusal's message.</summary>
        private readonly Dictionary<uint, string> expectations = new Dictionary<uint, string>();

        /// <summary>The drone's pilot-frame fast path, when configured (Sync.LocalDroneObject).</summary>
        private readonly DroneSync drones;
        private readonly PilotState[] pilots = new PilotState[Limits.MaxPilots];

        private struct Item
        {
            public int Connection;
            public StatusCode Status;
            public OperationResponse Response;
            public EventData Event;
        }

        /// <summary>Where a game server address leads: a room to host, or one to join.</summary>
        private sealed class Plan
        {
            public bool Host;
            public string Name;
            /// <summary>Join: the host's ip:port, or the listed room's id with the coordinator.</summary>
            public string HostAddress, SessionId;
        }

        /// <summary>A master operation waiting for a lobby page: JoinRandomGame, or JoinGame by a name not yet seen.</summary>
        private sealed class Search
        {
            public byte Op;
            public string Name;
            public Hashtable Expected;
            public uint Request;
            public float Deadline;
            public int Connection;
        }

        public PhotonServer(PhotonPeer peer, ShimSettings settings, ManualLogSource log, IdentityWatch identity)
        {
            this.peer = peer;
            this.settings = settings;
            this.log = log;
            this.identity = identity;
            drones = new DroneSync(settings, log);
        }

        /// <summary>For other mods: where the game's drone sticks come from (the fast path only).</summary>
        public DroneSync Drones
        {
            get { return drones; }
        }

        public bool Connected
        {
            get { return connected; }
        }

        /// <summary>The room's session, for other mods (null outside a room).</summary>
        public PropwashSession Session
        {
            get { return session; }
        }

        private bool OnGameServer
        {
            get { return address.StartsWith(GamePrefix, StringComparison.Ordinal); }
        }

        // ---- the peer's calls ---------------------------------------------------

        public bool Connect(string serverAddress)
        {
            SetRates();
            connection++;
            connected = true;
            address = serverAddress ?? "";
            if (OnGameServer && !plans.ContainsKey(address))
            {
                log.LogWarning("photon: " + address + " is no room propwash knows; the connection fails");
                Status(StatusCode.ExceptionOnConnect);
                connected = false;
                return true;
            }
            // The first address is the name server's, or (SelfHosted, ConnectToMaster) a master of the game's own.
            log.LogInfo("photon: connected to " + (OnGameServer ? "the room (" + address + ")" : address == MasterAddress ? "the master" : address) + ", answered by propwash");
            Status(StatusCode.Connect);
            return true;
        }

        public void Disconnect()
        {
            if (!connected) return;
            EndRoom("the game disconnected");
            inLobby = false;
            search = null;
            connected = false;
            connection++;
            Status(StatusCode.Disconnect);
        }

        public bool EstablishEncryption()
        {
            if (!connected) return false;
            Status(StatusCode.EncryptionEstablished);
            return true;
        }

        public bool Operation(byte code, Dictionary<byte, object> parameters, bool reliable)
        {
            if (!connected) return false;
            Dictionary<byte, object> p = parameters ?? new Dictionary<byte, object>();
            try
            {
                Handle(code, p, reliable);
            }
            catch (Exception e)
            {
                log.LogError("photon: operation " + code + " failed in propwash: " + e);
                if (code != Op.RaiseEvent) Respond(code, ErrorCode.InternalServerError, "propwash: " + e.Message, null);
            }
            return true;
        }

        /// <summary>Hands the next waiting message to the peer's listener; true if more wait.</summary>
        public bool Dispatch()
        {
            if (Waiting() == 0) Pump();
            Item item;
            while (TryTake(out item))
            {
                if (item.Connection != connection) continue;
                IPhotonPeerListener listener = peer.Listener;
                if (listener == null)
                {
                    Warn("nolistener", "photon: the peer has no listener; its messages are dropped");
                    return false;
                }
                if (item.Response != null) listener.OnOperationResponse(item.Response);
                else if (item.Event != null) listener.OnEvent(item.Event);
                else listener.OnStatusChanged(item.Status);
                break;
            }
            if (Waiting() == 0) Pump();
            return Waiting() > 0;
        }

        private int Waiting()
        {
            lock (inbox) return inbox.Count;
        }

        private bool TryTake(out Item item)
        {
            lock (inbox)
            {
                if (inbox.Count == 0)
                {
                    item = default(Item);
                    return false;
                }
                item = inbox.Dequeue();
                return true;
            }
        }

        private void Enqueue(Item item)
        {
            lock (inbox) inbox.Enqueue(item);
        }

        /// <summary>The host's clock in milliseconds in a room (PhotonNetwork.time, ServerTimestamp), else this machine's.</summary>
        public int ServerTime()
        {
            if (session != null && !session.IsDisposed)
            {
                try
                {
                    return unchecked((int)(long)(session.HostTime() * 1000.0));
                }
                catch (Exception e)
                {
                    Warn("clock", "photon: the room's clock could not be read: " + e.Message);
                }
            }
            return Environment.TickCount;
        }

        /// <summary>PhotonNetwork.GetPing(): the round trip to the room's host in milliseconds (0 for the host itself, and outside a room).</summary>
        public int RoundTripMs()
        {
            if (session == null || isHost || session.IsDisposed) return 0;
            try
            {
                return session.Stats(rtt) > 0 ? (int)Math.Round(rtt[0].RttMs) : 0;
            }
            catch (Exception e)
            {
                Warn("rtt", "photon: the link's round trip could not be read: " + e.Message);
                return 0;
            }
        }

        private readonly PeerStats[] rtt = new PeerStats[1];

        // ---- Unity's frames ------------------------------------------------------

        /// <summary>Update: the lobby's list and searches.</summary>
        public void Tick(float now)
        {
            if (!connected) return;
            if (inLobby && !listPending && now >= nextList) AskRoomList(now);
            LobbyAnswers(now);
            if (search != null && now > search.Deadline) SearchFailed("propwash: the lobby did not answer in time");
            if (listPending && now > listDeadline) listPending = false;
        }

        /// <summary>FixedUpdate: the drone's pilot frames, when configured.</summary>
        public void FixedTick()
        {
            if (session == null || leaving || session.IsDisposed) return;
            try
            {
                PilotFrame frame;
                if (drones.Capture(out frame)) session.PushLocal(in frame);
                int n = session.ReadPilotsInterpolated(settings.InterpolationDelayMs.Value, pilots);
                drones.Apply(pilots, n);
            }
            catch (Exception e)
            {
                Warn("drones", "photon: the drone frames could not be exchanged: " + e.Message);
            }
        }

        // ---- operations ------------------------------------------------------------

        private void Handle(byte code, Dictionary<byte, object> p, bool reliable)
        {
            switch (code)
            {
                case Op.Authenticate:
                case Op.AuthenticateOnce:
                    Respond(code, ErrorCode.Ok, null, OnGameServer ? null : new Dictionary<byte, object>
                    {
                        { Param.Address, MasterAddress },
                        { Param.UserId, UserId(p) },
                        { Param.Secret, "propwash" },
                    });
                    return;
                case Op.GetRegions:
                    Respond(code, ErrorCode.Ok, null, new Dictionary<byte, object>
                    {
                        { Param.Region, new[] { "eu" } },
                        { Param.Address, new[] { MasterAddress } },
                    });
                    return;
                case Op.ServerSettings:
                    Respond(code, ErrorCode.Ok, null, null);
                    return;
                case Op.JoinLobby:
                    Respond(code, ErrorCode.Ok, null, null);
                    inLobby = true;
                    listShown = false;
                    nextList = 0f;
                    if (Coordinator() == null) ShowRooms(new List<ListedRoom>());
                    return;
                case Op.LeaveLobby:
                    inLobby = false;
                    Respond(code, ErrorCode.Ok, null, null);
                    return;
                case Op.GetGameList:
                    Respond(code, ErrorCode.Ok, null, new Dictionary<byte, object> { { Param.GameList, GameList(new List<ListedRoom>(shown.Values), null) } });
                    return;
                case Op.FindFriends:
                    string[] asked = p.ContainsKey(Param.FindFriendsRequestList) ? p[Param.FindFriendsRequestList] as string[] : null;
                    int n = asked == null ? 0 : asked.Length;
                    string[] rooms = new string[n];
                    for (int i = 0; i < n; i++) rooms[i] = "";
                    Respond(code, ErrorCode.Ok, null, new Dictionary<byte, object>
                    {
                        { Param.FindFriendsResponseOnlineList, new bool[n] },
                        { Param.FindFriendsResponseRoomIdList, rooms },
                    });
                    return;
                case Op.CreateGame:
                    if (OnGameServer) EnterRoom(code, p);
                    else PlanHost(p);
                    return;
                case Op.JoinGame:
                    if (OnGameServer) EnterRoom(code, p);
                    else PlanJoin(p);
                    return;
                case Op.JoinRandomGame:
                    PlanRandom(p);
                    return;
                case Op.Leave:
                    LeaveRoom();
                    Respond(code, ErrorCode.Ok, null, null);
                    return;
                case Op.RaiseEvent:
                    Raise(p, reliable);
                    return;
                case Op.SetProperties:
                    SetProperties(p);
                    return;
                case Op.ChangeGroups:
                    ChangeGroups(p);
                    return;
                default:
                    Warn("op" + code, "photon: operation " + code + " is not offered by propwash; answered with an error");
                    Respond(code, ErrorCode.InvalidOperation, "propwash does not offer operation " + code, null);
                    return;
            }
        }

        private string UserId(Dictionary<byte, object> p)
        {
            PlayerIdentity id = identity == null ? null : identity.Current;
            if (id != null && !string.IsNullOrEmpty(id.PlayerId)) return id.PlayerId;
            object asked;
            return p.TryGetValue(Param.UserId, out asked) && asked is string ? (string)asked : LocalPlayer.Load(settings, identity, log).Id;
        }

        /// <summary>CreateGame on the master: the room will be ours; the peer goes to its address next.</summary>
        private void PlanHost(Dictionary<byte, object> p)
        {
            string name = Str(p, Param.RoomName);
            if (string.IsNullOrEmpty(name)) name = new RoomListing("", LocalPlayer.Load(settings, identity, log).Name).Name;
            string where = NewPlan(new Plan { Host = true, Name = name });
            Respond(Op.CreateGame, ErrorCode.Ok, null, new Dictionary<byte, object> { { Param.RoomName, name }, { Param.Address, where } });
        }

        /// <summary>
        /// JoinGame on the master: a room of the list by the name it showed, an ip:port, the
        /// configured JoinAddress, or (JoinOrCreateRoom) a room of our own; else the lobby is
        /// searched for the name.
        /// </summary>
        private void PlanJoin(Dictionary<byte, object> p)
        {
            string name = Str(p, Param.RoomName) ?? "";
            bool orCreate = p.ContainsKey(Param.JoinMode) && Convert.ToByte(p[Param.JoinMode], CultureInfo.InvariantCulture) == 1;
            Plan plan = Resolve(name);
            if (plan == null && orCreate) plan = new Plan { Host = true, Name = name };
            if (plan != null)
            {
                Respond(Op.JoinGame, ErrorCode.Ok, null, new Dictionary<byte, object> { { Param.RoomName, name }, { Param.Address, NewPlan(plan) } });
                return;
            }
            if (Coordinator() != null)
            {
                StartSearch(Op.JoinGame, name, null);
                return;
            }
            Respond(Op.JoinGame, ErrorCode.GameDoesNotExist, "propwash: no room called \"" + name + "\" is known here; set Network.Coordinator to find listed rooms, or give an ip:port", null);
        }

        private Plan Resolve(string name)
        {
            ListedRoom listed;
            if (shown.TryGetValue(name, out listed)) return new Plan { Name = name, SessionId = listed.SessionId };
            if (LobbyText.IsIpPort(name.Trim())) return new Plan { Name = name, HostAddress = name.Trim() };
            string fixedHost = (settings.JoinAddress.Value ?? "").Trim();
            if (fixedHost.Length > 0) return new Plan { Name = name, HostAddress = fixedHost };
            return null;
        }

        /// <summary>JoinRandomGame on the master: the first listed room with a seat for us that matches.</summary>
        private void PlanRandom(Dictionary<byte, object> p)
        {
            Hashtable expected = p.ContainsKey(Param.GameProperties) ? p[Param.GameProperties] as Hashtable : null;
            if (Coordinator() != null)
            {
                StartSearch(Op.JoinRandomGame, null, expected);
                return;
            }
            string fixedHost = (settings.JoinAddress.Value ?? "").Trim();
            if (fixedHost.Length > 0)
            {
                Respond(Op.JoinRandomGame, ErrorCode.Ok, null, new Dictionary<byte, object>
                {
                    { Param.RoomName, fixedHost },
                    { Param.Address, NewPlan(new Plan { Name = fixedHost, HostAddress = fixedHost }) },
                });
                return;
            }
            Respond(Op.JoinRandomGame, ErrorCode.NoRandomMatchFound, "propwash: there is no lobby to find a room in; set Network.Coordinator, or Network.JoinAddress to a host's ip:port", null);
        }

        private string NewPlan(Plan plan)
        {
            string where = GamePrefix + (++nextPlan).ToString(CultureInfo.InvariantCulture);
            plans[where] = plan;
            return where;
        }

        /// <summary>CreateGame or JoinGame on a game server address: the room opens (host) or the join starts.</summary>
        private void EnterRoom(byte code, Dictionary<byte, object> p)
        {
            Plan plan = plans[address];
            if (session != null)
            {
                Respond(code, ErrorCode.InvalidOperation, "propwash: already in a room", null);
                return;
            }
            myProps = p.ContainsKey(Param.PlayerProperties) ? p[Param.PlayerProperties] as Hashtable : null;
            if (myProps == null) myProps = new Hashtable();
            room = plan;
            leaving = closedUnexpectedly = false;
            actors.Clear();
            if (plan.Host) OpenRoom(code, p, plan);
            else StartJoin(code, plan);
        }

        private string PlayerName()
        {
            string fromGame = myProps == null ? null : myProps[(byte)255] as string;
            LocalPlayer me = LocalPlayer.Load(settings, identity, log);
            return LocalPlayer.First(settings.PlayerName.Value, fromGame, me.Name);
        }

        private void OpenRoom(byte code, Dictionary<byte, object> p, Plan plan)
        {
            Hashtable game = p.ContainsKey(Param.GameProperties) ? p[Param.GameProperties] as Hashtable : null;
            SettingsChange s = default(SettingsChange);
            List<Prop> roomProps = PhotonValues.SplitRoom(game, ref s);
            roomProps.RemoveAll(x => x.Value == null);
            bool cleanup = !p.ContainsKey(Param.CleanupCacheOnLeave) || Convert.ToBoolean(p[Param.CleanupCacheOnLeave], CultureInfo.InvariantCulture);
            LogRoomKeys(game);
            LocalPlayer local = LocalPlayer.Load(settings, identity, log);
            string coordinator = Coordinator();
            if (coordinator != null)
            {
                listing = new RoomListing(plan.Name, PlayerName());
                listing.Absorb(game, settings);
                listing.Absorb(s);
            }
            HostOptions o = new HostOptions
            {
                BindAddress = settings.BindAddress.Value + ":" + settings.GamePort.Value,
                GameVersion = GameVersion(),
                PlayerName = PlayerName(),
                PlayerId = local.Id,
                PilotHz = Rate(settings.PilotHz.Value),
                SpectatorHz = settings.SpectatorHz.Value,
                MaxPilots = settings.MaxPilots.Value,
                MaxSpectators = settings.MaxSpectators.Value,
                Password = settings.RoomPassword.Value ?? "",
                RequireVerified = settings.RequireVerified.Value,
                CoordinatorAddress = coordinator ?? "",
                ListingJson = listing == null ? "" : ListingJson(),
                MaxPlayers = (s.Mask & SettingsChange.MaxPlayersBit) != 0 ? s.MaxPlayers : 0,
                Open = (s.Mask & SettingsChange.OpenBit) == 0 || s.Open,
                Visible = (s.Mask & SettingsChange.VisibleBit) == 0 || s.Visible,
                CleanupCacheOnLeave = cleanup,
                RoomProps = RoomCodec.Props(roomProps),
                PlayerProps = RoomCodec.Props(PhotonValues.Props(myProps)),
            };
            try
            {
                session = PropwashSession.Host(o);
            }
            catch (Exception e)
            {
                log.LogError("photon: hosting \"" + plan.Name + "\" failed: " + e.Message);
                listing = null;
                Respond(code, ErrorCode.InternalServerError, "propwash: " + e.Message, null);
                return;
            }
            isHost = true;
            me = 1;
            actors[1] = true;
            log.LogInfo("photon: hosting room \"" + plan.Name + "\" on UDP " + session.Info().LocalPort + " (game version " + o.GameVersion + ")"
                + (listing != null ? ", listed at " + coordinator + " as \"" + listing.Name + "\"" : ", not listed (no Network.Coordinator)")
                + (o.Password.Length > 0 ? ", password set" : "") + (o.RequireVerified ? ", Steam-verified players only" : ""));
            int[] list = { 1 };
            Respond(code, ErrorCode.Ok, null, new Dictionary<byte, object>
            {
                { Param.ActorNr, 1 },
                { Param.GameProperties, PhotonValues.GameProperties((byte)o.MaxPlayers, o.Open, o.Visible, cleanup, 1, roomProps, Skipped) },
                { Param.PlayerProperties, new Hashtable() },
                { Param.ActorList, list },
            });
            Push(Join(1, myProps, list));
        }

        private void StartJoin(byte code, Plan plan)
        {
            string coordinator = null;
            if (plan.SessionId != null && (coordinator = Coordinator()) == null)
            {
                Respond(code, ErrorCode.GameDoesNotExist, "propwash: room \"" + plan.Name + "\" is listed, but Network.Coordinator is no longer set", null);
                return;
            }
            LocalPlayer local = LocalPlayer.Load(settings, identity, log);
            JoinOptions o = new JoinOptions
            {
                HostAddress = plan.HostAddress ?? "",
                CoordinatorAddress = coordinator ?? "",
                SessionId = plan.SessionId ?? "",
                Password = settings.RoomPassword.Value ?? "",
                GameVersion = GameVersion(),
                PlayerName = PlayerName(),
                PlayerId = local.Id,
                Role = settings.JoinAsSpectator.Value ? Role.Spectator : Role.Pilot,
                SpectateIfFull = settings.SpectateIfFull.Value,
                SendHz = Rate(settings.SendHz.Value),
                PlayerProps = RoomCodec.Props(PhotonValues.Props(myProps)),
            };
            try
            {
                session = PropwashSession.Join(o);
            }
            catch (Exception e)
            {
                log.LogError("photon: joining \"" + plan.Name + "\" failed: " + e.Message);
                Respond(code, ErrorCode.GameDoesNotExist, "propwash: " + e.Message, null);
                return;
            }
            isHost = false;
            joinOp = code;
            log.LogInfo(plan.SessionId != null
                ? "photon: joining listed room \"" + plan.Name + "\" (" + plan.SessionId + ") through " + coordinator + " as " + o.Role
                : "photon: joining " + plan.HostAddress + " as " + o.Role);
        }

        private void LeaveRoom()
        {
            if (session == null) return;
            leaving = true;
            try
            {
                session.Leave();
            }
            catch (Exception e)
            {
                log.LogWarning("photon: leaving the room: " + e.Message);
            }
            log.LogInfo(isHost ? "photon: the room is closed" : "photon: left the room");
        }

        /// <summary>Ends the room's session (saying goodbye if the game did not).</summary>
        private void EndRoom(string why)
        {
            if (session == null) return;
            if (!leaving && !closedUnexpectedly) log.LogInfo("photon: leaving the room: " + why);
            session.Dispose();
            session = null;
            room = null;
            listing = null;
            leftOut = "";
            isHost = leaving = closedUnexpectedly = false;
            me = 0;
            joinOp = 0;
            clockWait = null;
            actors.Clear();
            expectations.Clear();
            drones.Reset();
        }

        private void Raise(Dictionary<byte, object> p, bool reliable)
        {
            if (session == null || leaving)
            {
                Warn("raise-outside", "photon: an event raised outside a room is dropped");
                return;
            }
            byte code = Convert.ToByte(p[Param.Code], CultureInfo.InvariantCulture);
            object data = p.ContainsKey(Param.Data) ? p[Param.Data] : null;
            byte cache = p.ContainsKey(Param.Cache) ? Convert.ToByte(p[Param.Cache], CultureInfo.InvariantCulture) : (byte)0;
            byte receivers = p.ContainsKey(Param.ReceiverGroup) ? Convert.ToByte(p[Param.ReceiverGroup], CultureInfo.InvariantCulture) : (byte)0;
            byte group = p.ContainsKey(Param.Group) ? Convert.ToByte(p[Param.Group], CultureInfo.InvariantCulture) : (byte)0;
            int[] targets = p.ContainsKey(Param.ActorList) ? p[Param.ActorList] as int[] : null;
            if (cache != 0 && (cache < 4 || cache > 7))
            {
                Warn("cache" + cache, "photon: caching option " + cache + " (one of Photon's older ones) is not offered; the event goes uncached");
                cache = 0;
            }
            if (receivers > 2)
            {
                Warn("receivers" + receivers, "photon: receivers " + receivers + " is not offered; the event goes to the others");
                receivers = 0;
            }
            RaiseOptions o = new RaiseOptions
            {
                Code = code,
                Receivers = (Receivers)receivers,
                Caching = (Caching)cache,
                Group = group,
                Reliable = reliable,
                Slot = reliable ? 0u : PhotonValues.Slot(code, group, data),
            };
            uint[] t = null;
            int n = 0;
            if (targets != null)
            {
                t = new uint[targets.Length];
                foreach (int a in targets)
                {
                    if (a > 0) t[n++] = (uint)a;
                }
            }
            byte[] payload = data == null ? null : PhotonValues.Bytes(data);
            byte[] keys = cache == 4 || cache == 5 || cache == 6 ? PhotonValues.FilterKeys(data) : null;
            try
            {
                if (!session.Raise(o, t, n, keys, payload, 0, payload == null ? 0 : payload.Length))
                {
                    Warn("raise-dropped", "photon: an event was dropped (the network thread is behind, or the room is closed)");
                }
            }
            catch (PropwashException e)
            {
                log.LogError("photon: event " + code + " (" + (payload == null ? 0 : payload.Length) + " bytes) not sent: " + e.Message);
            }
        }

        private void SetProperties(Dictionary<byte, object> p)
        {
            if (session == null || leaving)
            {
                Warn("props-outside", "photon: properties set outside a room are dropped");
                return;
            }
            Hashtable props = p.ContainsKey(Param.Properties) ? p[Param.Properties] as Hashtable : null;
            Hashtable expected = p.ContainsKey(Param.ExpectedValues) ? p[Param.ExpectedValues] as Hashtable : null;
            int actor = p.ContainsKey(Param.ActorNr) ? Convert.ToInt32(p[Param.ActorNr], CultureInfo.InvariantCulture) : 0;
            uint target = actor <= 0 ? 0 : (uint)actor;
            SettingsChange s = default(SettingsChange), es = default(SettingsChange);
            List<Prop> changes, exp;
            if (target == 0)
            {
                changes = PhotonValues.SplitRoom(props, ref s);
                exp = PhotonValues.SplitRoom(expected, ref es);
            }
            else
            {
                changes = PhotonValues.Props(props);
                exp = PhotonValues.Props(expected);
            }
            uint request = ++nextRequest;
            if (expected != null && expected.Count > 0)
            {
                // Only a refusal is answered: an expectation 64 requests old is taken as accepted.
                if (expectations.Count >= 64)
                {
                    List<uint> old = new List<uint>();
                    foreach (uint r in expectations.Keys) if (request - r >= 64) old.Add(r);
                    foreach (uint r in old) expectations.Remove(r);
                }
                expectations[request] = (target == 0 ? "the room" : "player " + target) + " to have " + ExpectedKeys(expected);
            }
            try
            {
                session.SetProperties(request, target, RoomCodec.Props(changes), s, exp.Count > 0 ? RoomCodec.Props(exp) : null, es);
            }
            catch (PropwashException e)
            {
                log.LogError("photon: properties not set: " + e.Message);
                Respond(Op.SetProperties, ErrorCode.InvalidOperation, "propwash: " + e.Message, null);
                return;
            }
            // A change with expectations is listed once the room accepted it (its PropertiesChanged).
            if (target == 0 && exp.Count == 0 && es.IsEmpty) Relist(props, s);
        }

        private string leftOut = "";

        /// <summary>The listing's JSON; what did not fit is logged when it changes.</summary>
        private string ListingJson()
        {
            string json = listing.ToJson(settings.LobbyMode.Value);
            if (listing.LeftOut != leftOut)
            {
                leftOut = listing.LeftOut;
                if (leftOut.Length > 0)
                {
                    log.LogWarning("photon: lobby-listed room properties left out of the listing (at most " + LobbyText.MaxLobbyProps + ", " + LobbyText.MaxLobbyPropsJson
                        + " bytes in all; names of 1 to " + LobbyText.MaxLobbyPropKey + " bytes; bool, numbers and short text only): " + leftOut);
                }
            }
            return json;
        }

        /// <summary>The host's lobby listing follows the room's listed properties and settings, whoever changed them.</summary>
        private void Relist(IDictionary props, SettingsChange s)
        {
            if (!isHost || listing == null) return;
            bool changed = listing.Absorb(props, settings);
            changed |= listing.Absorb(s);
            if (!changed) return;
            try
            {
                session.UpdateListing(ListingJson());
            }
            catch (PropwashException e)
            {
                log.LogWarning("photon: the listing was not updated: " + e.Message);
            }
        }

        private void ChangeGroups(Dictionary<byte, object> p)
        {
            if (session == null || leaving) return;
            byte[] remove = p.ContainsKey(Param.Remove) ? p[Param.Remove] as byte[] : null;
            byte[] add = p.ContainsKey(Param.Add) ? p[Param.Add] as byte[] : null;
            session.ChangeGroups(remove, add);
        }

        // ---- the library's news, as Photon's messages ---------------------------

        /// <summary>Takes what the room's session reported into the inbox.</summary>
        private void Pump()
        {
            if (session == null || HoldForClock()) return;
            SessionEvent ev;
            for (int i = 0; i < SessionEventsPerPump && session != null && session.TryPollEvent(out ev); i++)
            {
                if (leaving) continue;
                try
                {
                    OnSessionEvent(ev);
                }
                catch (FormatException e)
                {
                    log.LogError("photon: the library's " + ev.Kind + " could not be read: " + e.Message);
                }
            }
            string report;
            while (session != null && session.TryPollLobbyEvent(out report))
            {
                log.LogInfo("photon: lobby: " + report);
            }
            if (session != null && ++pumps % 64 == 0)
            {
                WarnOfDroppedEvents();
            }
        }

        /// <summary>
        /// Says so when the library dropped events the game left unread for too long
        /// (PUN stops dispatching while a level loads): the game missed them.
        /// </summary>
        private void WarnOfDroppedEvents()
        {
            try
            {
                ulong dropped = session.Counters().EventsDropped;
                if (dropped > eventsDropped)
                {
                    log.LogWarning("photon: " + (dropped - eventsDropped) + " room events were dropped because the game left too many unread");
                    eventsDropped = dropped;
                }
            }
            catch (PropwashException) { }
        }

        /// <summary>
        /// A joiner that is seated waits for its first estimate of the host's clock (a few round trips,
        /// <see cref="ClockWaitSeconds"/> at most) before the welcome reaches PUN: OnJoinedRoom and what the
        /// game does in it (PhotonNetwork.time, ServerTimestamp) then see the room's clock, not this machine's.
        /// </summary>
        private bool HoldForClock()
        {
            if (joinOp == 0 || isHost) return false;
            SessionInfo info = session.Info();
            if (info.State != SessionState.Connected || info.ClockSynced)
            {
                clockWait = null;
                return false;
            }
            if (clockWait == null) clockWait = System.Diagnostics.Stopwatch.StartNew();
            if (clockWait.Elapsed.TotalSeconds < ClockWaitSeconds) return true;
            Warn("clock-wait", "photon: the host's clock was not known " + ClockWaitSeconds + " s after the join; the room starts with this machine's");
            return false;
        }

        private void OnSessionEvent(SessionEvent ev)
        {
            switch (ev.Kind)
            {
                case EventKind.Welcomed:
                    Welcomed(RoomCodec.Welcome(ev.Data));
                    break;
                case EventKind.Refused:
                    Refused(ev.RefuseReason, ev.Text());
                    break;
                case EventKind.PlayerJoined:
                    PlayerRecord joined = RoomCodec.Player(ev.Data);
                    if (joinOp != 0 || actors.ContainsKey(joined.Actor)) break;
                    actors[joined.Actor] = true;
                    Push(Join(joined.Actor, PhotonValues.Table(joined.Props, Skipped), ActorList()));
                    break;
                case EventKind.PlayerLeft:
                    if (!actors.Remove(ev.Actor)) break;
                    drones.Forget(ev.Actor);
                    // The host closing the room is no leave: the connection ends.
                    if (ev.Actor == 1 && ev.CloseReason == CloseReason.RoomClosed) break;
                    EventData left = NewEvent(Ev.Leave);
                    left.Parameters[Param.ActorNr] = (int)ev.Actor;
                    if (ev.Master != 0) left.Parameters[Param.MasterClientId] = (int)ev.Master;
                    Push(left);
                    break;
                case EventKind.GameEvent:
                    EventData game = NewEvent(ev.Code);
                    if (ev.Data.Count > 0)
                    {
                        byte[] payload = ev.CopyData();
                        try
                        {
                            game.Parameters[Param.Data] = PhotonValues.Value(payload);
                        }
                        catch (Exception e)
                        {
                            log.LogWarning("photon: event " + ev.Code + " from actor " + ev.Actor + " could not be read, dropped: " + e.Message);
                            break;
                        }
                    }
                    game.Parameters[Param.ActorNr] = (int)ev.Actor;
                    Push(game);
                    break;
                case EventKind.PropertiesChanged:
                    // Our own plain change is already applied on our side, as with Photon.
                    if (ev.Actor == me && !ev.Cas) break;
                    PropsChange c = RoomCodec.Changed(ev.Data);
                    Hashtable t = PhotonValues.Table(c.Changes, Skipped);
                    if (ev.Target == 0)
                    {
                        PhotonValues.AddSettings(t, c.Settings);
                        Relist(t, c.Settings);
                    }
                    EventData changed = NewEvent(Ev.PropertiesChanged);
                    changed.Parameters[Param.TargetActorNr] = (int)ev.Target;
                    changed.Parameters[Param.Properties] = t;
                    changed.Parameters[Param.ActorNr] = (int)ev.Actor;
                    Push(changed);
                    break;
                case EventKind.PropertiesRefused:
                    string wanted;
                    string why = expectations.TryGetValue(ev.Request, out wanted) ? ev.Text() + " (expected " + wanted + ")" : ev.Text();
                    expectations.Remove(ev.Request);
                    log.LogWarning("photon: a property change was refused: " + why);
                    Respond(Op.SetProperties, ErrorCode.InvalidOperation, why, null);
                    break;
                case EventKind.RequestFailed:
                    log.LogWarning("photon: " + ev.Text());
                    break;
                case EventKind.TrackProgress:
                case EventKind.TrackReady:
                case EventKind.TrackFailed:
                    log.LogInfo("photon: track: " + ev.Kind + " " + ev.Text());
                    break;
                case EventKind.Closed:
                    Closed(ev.CloseReason);
                    break;
            }
        }

        private void Welcomed(RoomWelcome w)
        {
            if (joinOp == 0) return;
            me = w.Actor;
            Hashtable others = new Hashtable();
            foreach (PlayerRecord p in w.Players)
            {
                actors[p.Actor] = true;
                if (p.Actor != me) others[(int)p.Actor] = PhotonValues.Table(p.Props, Skipped);
            }
            int[] list = ActorList();
            log.LogInfo("photon: in room \"" + (room == null ? "?" : room.Name) + "\" as actor " + me + " with " + (list.Length - 1) + " others");
            Respond(joinOp, ErrorCode.Ok, null, new Dictionary<byte, object>
            {
                { Param.ActorNr, (int)me },
                { Param.GameProperties, PhotonValues.GameProperties(w.MaxPlayers, w.Open, w.Visible, w.CleanupCacheOnLeave, w.Master, w.RoomProps, Skipped) },
                { Param.PlayerProperties, others },
                { Param.ActorList, list },
            });
            joinOp = 0;
            Push(Join(me, myProps, list));
        }

        /// <summary>Photon's error for a refused join, so PUN raises its own failure callback.</summary>
        private void Refused(RefuseReason reason, string message)
        {
            if (joinOp == 0) return;
            short code;
            switch (reason)
            {
                case RefuseReason.PilotsFull:
                case RefuseReason.SpectatorsFull:
                case RefuseReason.GameFull:
                    code = ErrorCode.GameFull;
                    break;
                case RefuseReason.GameClosed:
                    code = ErrorCode.GameClosed;
                    break;
                case RefuseReason.RoomClosed:
                    code = ErrorCode.GameDoesNotExist;
                    break;
                default:
                    code = ErrorCode.InvalidOperation;
                    break;
            }
            log.LogWarning("photon: the host refused the join (" + reason + "): " + message);
            Respond(joinOp, code, message, null);
            joinOp = 0;
            leaving = true;
        }

        private void Closed(CloseReason reason)
        {
            if (joinOp != 0)
            {
                Respond(joinOp, ErrorCode.GameDoesNotExist, "propwash: the room could not be reached (" + reason + ")", null);
                joinOp = 0;
                leaving = true;
                return;
            }
            if (leaving || closedUnexpectedly) return;
            closedUnexpectedly = true;
            StatusCode cause = reason == CloseReason.RoomClosed ? StatusCode.DisconnectByServerLogic
                : reason == CloseReason.TimedOut ? StatusCode.TimeoutDisconnect
                : StatusCode.DisconnectByServerReasonUnknown;
            log.LogWarning("photon: the room ended (" + reason + "); the game is told " + cause);
            Status(cause);
        }

        private EventData Join(uint actor, Hashtable props, int[] list)
        {
            EventData e = NewEvent(Ev.Join);
            e.Parameters[Param.ActorNr] = (int)actor;
            e.Parameters[Param.PlayerProperties] = props ?? new Hashtable();
            e.Parameters[Param.ActorList] = list;
            return e;
        }

        private int[] ActorList()
        {
            int[] list = new int[actors.Count];
            int i = 0;
            foreach (uint a in actors.Keys) list[i++] = (int)a;
            return list;
        }

        // ---- the lobby --------------------------------------------------------------

        private string ListQuery(bool freeSeat)
        {
            StringBuilder q = new StringBuilder("{\"limit\":" + RoomsPerPage);
            if (freeSeat && !settings.JoinAsSpectator.Value && !settings.SpectateIfFull.Value) q.Append(",\"min_free_pilots\":1");
            if (string.IsNullOrEmpty(settings.RoomPassword.Value)) q.Append(",\"has_password\":false");
            return q.Append('}').ToString();
        }

        private void AskRoomList(float now)
        {
            string coordinator = Coordinator();
            nextList = now + Math.Max(2, settings.LobbyRefreshSeconds.Value);
            if (coordinator == null) return;
            try
            {
                listRequest = browser.List(coordinator, GameVersion(), ListQuery(false));
                listPending = true;
                listDeadline = now + LobbyAnswerSeconds;
            }
            catch (PropwashException e)
            {
                Warn("list", "photon: the room list could not be asked for: " + e.Message);
            }
        }

        private void StartSearch(byte op, string name, Hashtable expected)
        {
            string coordinator = Coordinator();
            try
            {
                uint request = browser.List(coordinator, GameVersion(), ListQuery(op == Op.JoinRandomGame));
                search = new Search
                {
                    Op = op,
                    Name = name,
                    Expected = expected,
                    Request = request,
                    Deadline = UnityEngine.Time.realtimeSinceStartup + LobbyAnswerSeconds,
                    Connection = connection,
                };
            }
            catch (PropwashException e)
            {
                Respond(op, op == Op.JoinRandomGame ? ErrorCode.NoRandomMatchFound : ErrorCode.GameDoesNotExist, "propwash: the lobby could not be asked: " + e.Message, null);
            }
        }

        private void LobbyAnswers(float now)
        {
            LobbyAnswer answer;
            for (int i = 0; i < 8; i++)
            {
                try
                {
                    if (!browser.TryNext(out answer)) return;
                }
                catch (Exception e)
                {
                    Warn("answer", "photon: a lobby answer could not be read: " + e.Message);
                    return;
                }
                if (listPending && answer.RequestId == listRequest)
                {
                    listPending = false;
                    if (answer.Ok) ShowRooms(answer.Rooms);
                    else Warn("listfail", "photon: the room list failed: " + answer.Message);
                }
                if (search != null && answer.RequestId == search.Request)
                {
                    Search s = search;
                    search = null;
                    if (s.Connection != connection) continue;
                    if (!answer.Ok)
                    {
                        Respond(s.Op, s.Op == Op.JoinRandomGame ? ErrorCode.NoRandomMatchFound : ErrorCode.GameDoesNotExist, "propwash: " + answer.Message, null);
                        continue;
                    }
                    Found(s, answer.Rooms);
                }
            }
        }

        private void SearchFailed(string why)
        {
            Search s = search;
            search = null;
            Respond(s.Op, s.Op == Op.JoinRandomGame ? ErrorCode.NoRandomMatchFound : ErrorCode.GameDoesNotExist, why, null);
        }

        private void Found(Search s, List<ListedRoom> rooms)
        {
            Dictionary<string, ListedRoom> named = Named(rooms);
            if (s.Op == Op.JoinGame)
            {
                ListedRoom r;
                if (named.TryGetValue(s.Name, out r))
                {
                    shown[s.Name] = r;
                    Respond(Op.JoinGame, ErrorCode.Ok, null, new Dictionary<byte, object>
                    {
                        { Param.RoomName, s.Name },
                        { Param.Address, NewPlan(new Plan { Name = s.Name, SessionId = r.SessionId }) },
                    });
                }
                else
                {
                    Respond(Op.JoinGame, ErrorCode.GameDoesNotExist, "propwash: no listed room is called \"" + s.Name + "\"", null);
                }
                return;
            }
            foreach (KeyValuePair<string, ListedRoom> kv in named)
            {
                ListedRoom r = kv.Value;
                // Photon's random matchmaking never picks a hidden room.
                if (!r.Visible || !HasSeat(r) || !Matches(r, s.Expected)) continue;
                shown[kv.Key] = r;
                Respond(Op.JoinRandomGame, ErrorCode.Ok, null, new Dictionary<byte, object>
                {
                    { Param.RoomName, kv.Key },
                    { Param.Address, NewPlan(new Plan { Name = kv.Key, SessionId = r.SessionId }) },
                });
                return;
            }
            Respond(Op.JoinRandomGame, ErrorCode.NoRandomMatchFound, named.Count == 0
                ? "propwash: no open rooms for " + GameVersion()
                : "propwash: " + named.Count + " room(s) listed for " + GameVersion() + ", none with a free seat matching the expected " + ExpectedKeys(s.Expected), null);
        }

        private bool HasSeat(ListedRoom r)
        {
            if (!r.Open || (r.MaxPlayers > 0 && r.Players >= r.MaxPlayers)) return false;
            if (r.HasPassword && string.IsNullOrEmpty(settings.RoomPassword.Value)) return false;
            if (settings.JoinAsSpectator.Value) return r.FreeSpectators > 0;
            return r.FreePilots > 0 || (settings.SpectateIfFull.Value && r.FreeSpectators > 0);
        }

        /// <summary>The expected properties a listing can tell: MaxPlayers (JoinRandomRoom's expectedMaxPlayers), map, track and laps (the [Lobby] keys).</summary>
        private bool Matches(ListedRoom r, Hashtable expected)
        {
            if (expected == null) return true;
            foreach (DictionaryEntry e in (IDictionary)expected)
            {
                if (e.Key is byte && (byte)e.Key == RoomKey.MaxPlayers)
                {
                    if (Convert.ToInt32(e.Value, CultureInfo.InvariantCulture) != r.MaxPlayers) return false;
                    continue;
                }
                string key = e.Key as string;
                if (key == null) continue;
                object listed;
                if (r.Props.TryGetValue(key, out listed))
                {
                    if (!SameValue(listed, e.Value)) return false;
                    continue;
                }
                // Photon matches only on what a room lists: a room that does not list an expected key is no match,
                // unless [Lobby] names it (hosts that list map, track and laps only).
                if (key != settings.MapIdProperty.Value && key != settings.TrackIdProperty.Value && key != settings.LapsProperty.Value) return false;
                string want = LobbyText.Text(e.Value);
                if (key == settings.MapIdProperty.Value && r.MapId != want) return false;
                if (key == settings.TrackIdProperty.Value && r.TrackId != want) return false;
                if (key == settings.LapsProperty.Value && r.Laps.ToString(CultureInfo.InvariantCulture) != want) return false;
            }
            return true;
        }

        /// <summary>Rooms by the name they show under; a name taken twice gets its host's name added.</summary>
        private static Dictionary<string, ListedRoom> Named(List<ListedRoom> rooms)
        {
            Dictionary<string, ListedRoom> named = new Dictionary<string, ListedRoom>();
            foreach (ListedRoom r in rooms)
            {
                string name = r.Name;
                for (int n = 2; named.ContainsKey(name); n++)
                {
                    name = r.Name + " (" + (n == 2 ? r.HostName : n.ToString(CultureInfo.InvariantCulture)) + ")";
                }
                named[name] = r;
            }
            return named;
        }

        /// <summary>The lobby's rooms as Photon's GameList (the first time) or GameListUpdate event.</summary>
        private void ShowRooms(List<ListedRoom> rooms)
        {
            if (!inLobby) return;
            Dictionary<string, ListedRoom> named = Named(rooms);
            List<string> gone = new List<string>();
            foreach (KeyValuePair<string, ListedRoom> kv in shown)
            {
                // Gone from the list: closed down, or hidden by its game since.
                ListedRoom now;
                if (kv.Value.Visible && (!named.TryGetValue(kv.Key, out now) || !now.Visible)) gone.Add(kv.Key);
            }
            EventData e = NewEvent(listShown ? Ev.GameListUpdate : Ev.GameList);
            e.Parameters[Param.GameList] = GameList(new List<ListedRoom>(named.Values), listShown ? gone : null, named);
            Push(e);
            listShown = true;
            shown.Clear();
            foreach (KeyValuePair<string, ListedRoom> kv in named) shown[kv.Key] = kv.Value;
        }

        private static void SetIfAbsent(Hashtable info, string key, object value)
        {
            if (!string.IsNullOrEmpty(key) && !info.ContainsKey(key)) info[key] = value;
        }

        private Hashtable GameList(List<ListedRoom> rooms, List<string> gone)
        {
            return GameList(rooms, gone, Named(rooms));
        }

        private Hashtable GameList(List<ListedRoom> rooms, List<string> gone, Dictionary<string, ListedRoom> named)
        {
            Hashtable games = new Hashtable();
            foreach (KeyValuePair<string, ListedRoom> kv in named)
            {
                ListedRoom r = kv.Value;
                // A hidden room is joined by its name only.
                if (!r.Visible) continue;
                Hashtable info = new Hashtable();
                // As Photon lists a room: the game's own MaxPlayers (0: no limit), everyone in it, its own IsOpen
                // (a full room is open, and shows PlayerCount == MaxPlayers).
                info[RoomKey.MaxPlayers] = (byte)Math.Min(255, r.MaxPlayers);
                info[RoomKey.PlayerCount] = (byte)Math.Min(255, r.Players);
                info[RoomKey.IsOpen] = r.Open;
                info[RoomKey.IsVisible] = true;
                // The game's lobby-listed properties as it set them; the [Lobby] keys for hosts that list only those.
                foreach (KeyValuePair<string, object> p in r.Props) info[p.Key] = p.Value;
                SetIfAbsent(info, settings.MapIdProperty.Value, r.MapId);
                SetIfAbsent(info, settings.TrackIdProperty.Value, r.TrackId);
                SetIfAbsent(info, settings.LapsProperty.Value, r.Laps);
                games[kv.Key] = info;
            }
            if (gone != null)
            {
                foreach (string name in gone)
                {
                    Hashtable removed = new Hashtable();
                    removed[RoomKey.Removed] = true;
                    games[name] = removed;
                }
            }
            return games;
        }

        // ---- helpers --------------------------------------------------------------

        private void Status(StatusCode code)
        {
            Enqueue(new Item { Connection = connection, Status = code });
        }

        private void Push(EventData e)
        {
            Enqueue(new Item { Connection = connection, Event = e });
        }

        private void Respond(byte op, short returnCode, string message, Dictionary<byte, object> parameters)
        {
            Enqueue(new Item
            {
                Connection = connection,
                Response = new OperationResponse
                {
                    OperationCode = op,
                    ReturnCode = returnCode,
                    DebugMessage = message,
                    Parameters = parameters ?? new Dictionary<byte, object>(),
                },
            });
        }

        private static EventData NewEvent(byte code)
        {
            return new EventData { Code = code, Parameters = new Dictionary<byte, object>() };
        }

        /// <summary>Equal values; numbers of different types compare by value (a listing's int and the game's byte 3 match).</summary>
        private static bool SameValue(object listed, object wanted)
        {
            if (Equals(listed, wanted)) return true;
            if (listed == null || wanted == null || listed is string || wanted is string || listed is bool || wanted is bool) return false;
            try
            {
                return Convert.ToDouble(listed, CultureInfo.InvariantCulture) == Convert.ToDouble(wanted, CultureInfo.InvariantCulture);
            }
            catch (Exception)
            {
                return false;
            }
        }

        /// <summary>"map=MP-0c6, laps=3" for a log line or an error message.</summary>
        private static string ExpectedKeys(Hashtable expected)
        {
            if (expected == null || expected.Count == 0) return "(nothing)";
            List<string> parts = new List<string>();
            foreach (KeyValuePair<object, object> e in expected) parts.Add((e.Key is byte && (byte)e.Key == RoomKey.MaxPlayers ? "MaxPlayers" : e.Key) + "=" + e.Value);
            parts.Sort(StringComparer.Ordinal);
            return string.Join(", ", parts.ToArray());
        }

        private static string Str(Dictionary<byte, object> p, byte key)
        {
            object v;
            return p.TryGetValue(key, out v) ? v as string : null;
        }

        private void Skipped(string why)
        {
            Warn(why, "photon: " + why);
        }

        private void Warn(string once, string message)
        {
            if (warned.Add(once)) log.LogWarning(message);
        }

        private void LogRoomKeys(Hashtable game)
        {
            if (game == null) return;
            List<string> keys = new List<string>();
            foreach (DictionaryEntry e in (IDictionary)game)
            {
                if (e.Key is string) keys.Add((string)e.Key + " (" + (e.Value == null ? "null" : e.Value.GetType().Name) + ")");
            }
            keys.Sort(StringComparer.Ordinal);
            log.LogInfo("photon: the game's room properties at CreateRoom: " + (keys.Count == 0 ? "none" : string.Join(", ", keys.ToArray()))
                + " (set [Lobby] MapIdProperty, TrackIdProperty and LapsProperty to list them)");
        }

        private string Coordinator()
        {
            string c = (settings.Coordinator.Value ?? "").Trim();
            if (c.Length == 0) return null;
            if (!LobbyText.IsIpPort(c))
            {
                Warn("coordinator", "photon: Network.Coordinator \"" + c + "\" is not ip:port; no lobby is used");
                return null;
            }
            return c;
        }

        private string GameVersion()
        {
            string v = settings.GameVersion.Value;
            return string.IsNullOrEmpty(v) ? (UnityEngine.Application.version ?? "") : v;
        }

        /// <summary>Our send rates, or the game's serialization rate with Rates.FollowGameRates.</summary>
        private int Rate(int configured)
        {
            return settings.FollowGameRates.Value ? Math.Max(10, Math.Min(240, GameRates.Serialization())) : configured;
        }

        /// <summary>PUN's view serialization rate, raised to ours unless the game's rates are followed.</summary>
        private void SetRates()
        {
            if (ratesSet) return;
            ratesSet = true;
            if (settings.FollowGameRates.Value) return;
            string result = GameRates.Raise(settings.SendHz.Value);
            log.LogInfo("photon: " + result);
        }

        public void Dispose()
        {
            EndRoom("the plugin was unloaded");
            browser.Dispose();
            lock (inbox) inbox.Clear();
        }
    }
}
