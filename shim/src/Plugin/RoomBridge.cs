// What Photon's room was to the game, on a PropwashSession: hosting and
// joining, events, properties, the clock, and the per-tick drone exchange.
// The patches call in here; the plugin drives it from FixedUpdate (frames)
// and Update (events, deferred callbacks). Main thread only.
using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using BepInEx.Logging;
using UnityEngine;

namespace Propwash.Shim
{
    public sealed class RoomBridge : IDisposable
    {
        /// <summary>Photon error codes handed to the *Failed callbacks.</summary>
        private const short GameFull = 32765, GameClosed = 32764, OperationFailed = -1;
        private const int EventsPerFrame = 256;

        private readonly ShimSettings settings;
        private readonly ManualLogSource log;
        private readonly PhotonGlue glue;
        private readonly DroneSync drones;
        private readonly PilotState[] pilots = new PilotState[Limits.MaxPilots];
        private readonly Dictionary<ushort, PlayerRecord> players = new Dictionary<ushort, PlayerRecord>();
        private readonly List<KeyValuePair<string, object[]>> deferred = new List<KeyValuePair<string, object[]>>();
        private readonly HashSet<string> warned = new HashSet<string>();
        private PropwashSession session;
        private bool seated, isHost, clockSynced, leaving;
        private ushort ourActor;
        private int pilotCount, tickErrors, dropped;

        /// <summary>A player was seated (us included). For other mods; PUN's OnPlayerEnteredRoom needs Photon Player objects and is not raised.</summary>
        public event Action<PlayerRecord> PlayerJoined;
        /// <summary>A player left (actor, why).</summary>
        public event Action<ushort, CloseReason> PlayerLeft;
        /// <summary>Every game event as raw payload (code, sender, data valid during the call), before it goes to Photon's sink.</summary>
        public event Action<byte, ushort, ArraySegment<byte>> GameEventReceived;

        internal RoomBridge(ShimSettings settings, ManualLogSource log)
        {
            this.settings = settings;
            this.log = log;
            glue = new PhotonGlue(settings, log);
            drones = new DroneSync(settings, log);
        }

        public bool Connected { get; private set; }
        public bool InRoom { get { return session != null && seated; } }
        public bool IsHost { get { return session != null && isHost; } }
        public bool HasClock { get { return session != null && clockSynced; } }
        public ushort LocalActor { get { return ourActor; } }
        public int GameSendRate { get; internal set; }
        public int GameSerializationRate { get; internal set; }

        /// <summary>Remote pilots as last read in FixedUpdate (interpolated); valid up to <see cref="RemotePilotCount"/>.</summary>
        public PilotState[] RemotePilots { get { return pilots; } }
        public int RemotePilotCount { get { return pilotCount; } }
        public ICollection<PlayerRecord> Players { get { return players.Values; } }

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

        public bool CreateRoom(string roomName)
        {
            return Host(roomName);
        }

        public bool JoinRoom(string roomName)
        {
            string address = AddressFor(roomName);
            if (address == null)
            {
                Fail("OnJoinRoomFailed", OperationFailed, "propwash: room \"" + roomName + "\" is not ip:port and Network.JoinAddress is empty");
                return false;
            }
            return Join(address);
        }

        public bool JoinOrCreateRoom(string roomName)
        {
            string address = AddressFor(roomName);
            return address != null ? Join(address) : Host(roomName);
        }

        public bool JoinRandomRoom()
        {
            string address = AddressFor(null);
            if (address == null)
            {
                Fail("OnJoinRandomFailed", OperationFailed, "propwash: no lobby list yet; set Network.JoinAddress");
                return false;
            }
            return Join(address);
        }

        public bool LeaveRoom()
        {
            if (session == null) return false;
            leaving = true;
            session.Leave(); // the CLOSED event that follows raises OnLeftRoom
            return true;
        }

        public void Disconnect()
        {
            bool wasInRoom = session != null;
            EndSession();
            Connected = false;
            if (wasInRoom) Defer("OnLeftRoom");
            Defer("OnDisconnected", 0);
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
            return ApplyProperties(properties, true);
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
            return ApplyProperties(properties, false);
        }

        private bool ApplyProperties(IDictionary properties, bool room)
        {
            bool ok = true;
            foreach (DictionaryEntry e in properties)
            {
                string key = ValueCodec.EncodeKey(e.Key);
                try
                {
                    if (e.Value == null)
                    {
                        ok &= room ? session.RemoveRoomProperty(key) : session.RemovePlayerProperty(key);
                        continue;
                    }
                    string value = ValueCodec.EncodeValue(e.Value, glue);
                    if (value == null)
                    {
                        Warn("property " + key + ": no Photon serializer for a " + e.Value.GetType().Name + "; not sent");
                        ok = false;
                        continue;
                    }
                    ok &= room ? session.SetRoomProperty(key, value) : session.SetPlayerProperty(key, value);
                }
                catch (PropwashException ex)
                {
                    log.LogError("property " + key + ": " + ex.Message);
                    ok = false;
                }
            }
            return ok;
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

        private bool Host(string roomName)
        {
            if (session != null)
            {
                Fail("OnCreateRoomFailed", OperationFailed, "propwash: already in a room");
                return false;
            }
            PlayerIdentity me = PlayerIdentity.Load(settings, log);
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
            };
            try
            {
                session = PropwashSession.Host(o);
            }
            catch (Exception e)
            {
                log.LogError("hosting failed: " + e.Message);
                Fail("OnCreateRoomFailed", OperationFailed, e.Message);
                return false;
            }
            isHost = seated = true;
            ourActor = 1;
            log.LogInfo("hosting room \"" + roomName + "\" on UDP " + session.Info().LocalPort + " (game version " + o.GameVersion + ")");
            Defer("OnCreatedRoom");
            Defer("OnJoinedRoom");
            return true;
        }

        private bool Join(string address)
        {
            if (session != null)
            {
                Fail("OnJoinRoomFailed", OperationFailed, "propwash: already in a room");
                return false;
            }
            PlayerIdentity me = PlayerIdentity.Load(settings, log);
            JoinOptions o = new JoinOptions
            {
                HostAddress = address,
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
                log.LogError("joining " + address + " failed: " + e.Message);
                Fail("OnJoinRoomFailed", OperationFailed, e.Message);
                return false;
            }
            log.LogInfo("joining " + address + " as " + o.Role);
            return true; // OnJoinedRoom follows the WELCOMED event
        }

        private void EndSession()
        {
            if (session != null) session.Dispose();
            session = null;
            seated = isHost = clockSynced = leaving = false;
            ourActor = 0;
            pilotCount = 0;
            players.Clear();
            drones.Reset();
        }

        public void Dispose()
        {
            EndSession();
        }

        // ---- per tick -------------------------------------------------------

        /// <summary>FixedUpdate: our drone out, the others in. Allocation-free.</summary>
        internal void FixedTick()
        {
            if (!InRoom) return;
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

        /// <summary>Update: deferred callbacks, then every queued event.</summary>
        internal void FrameTick()
        {
            if (deferred.Count > 0)
            {
                KeyValuePair<string, object[]>[] due = deferred.ToArray();
                deferred.Clear();
                foreach (KeyValuePair<string, object[]> c in due) glue.Callback(c.Key, c.Value);
            }
            if (session == null) return;
            if (!clockSynced) clockSynced = session.Info().ClockSynced;
            SessionEvent ev;
            for (int i = 0; i < EventsPerFrame && session != null && session.TryPollEvent(out ev); i++)
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
            deferred.Add(new KeyValuePair<string, object[]>(callback, args));
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
                    seated = true;
                    ourActor = ev.Actor;
                    log.LogInfo("seated as actor " + ev.Actor + " (" + ev.Role + ")");
                    glue.Callback("OnJoinedRoom");
                    break;
                case EventKind.Refused:
                    string why = ev.Text();
                    log.LogWarning("the host refused us (" + ev.RefuseReason + "): " + why);
                    short code = ev.RefuseReason == RefuseReason.PilotsFull || ev.RefuseReason == RefuseReason.SpectatorsFull ? GameFull
                        : ev.RefuseReason == RefuseReason.RoomClosed ? GameClosed : OperationFailed;
                    glue.Callback("OnJoinRoomFailed", code, why);
                    break;
                case EventKind.PlayerJoined:
                    PlayerRecord p = PlayerRecord.From(Json.Parse(ev.Text()));
                    players[p.Actor] = p;
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
                    IDictionary room = Changes(ev.Text(), null);
                    glue.Callback("OnRoomPropertiesUpdate", room);
                    glue.Callback("OnPhotonCustomRoomPropertiesChanged", room);
                    break;
                case EventKind.PlayerPropertiesChanged:
                    PlayerRecord who;
                    players.TryGetValue(ev.Actor, out who);
                    Changes(ev.Text(), who);
                    break;
                case EventKind.Closed:
                    bool ours = leaving, wasSeated = seated;
                    log.LogInfo("the session closed (" + ev.CloseReason + ")");
                    EndSession();
                    if (wasSeated)
                    {
                        glue.Callback("OnLeftRoom");
                        if (!ours) glue.Callback("OnDisconnected", 0);
                    }
                    else if (ev.CloseReason == CloseReason.TimedOut)
                    {
                        // A join the host never answered (REFUSED already raised OnJoinRoomFailed).
                        glue.Callback("OnJoinRoomFailed", OperationFailed, "propwash: the host did not answer");
                    }
                    break;
            }
        }

        /// <summary>A {"key":"value"|null} change set as a Photon Hashtable; also applied to the player's record.</summary>
        private IDictionary Changes(string json, PlayerRecord player)
        {
            IDictionary table = glue.NewHashtable();
            Dictionary<string, object> changes = Json.Parse(json) as Dictionary<string, object>;
            if (changes == null) return table;
            foreach (KeyValuePair<string, object> kv in changes)
            {
                string value = kv.Value as string;
                table[ValueCodec.DecodeKey(kv.Key)] = ValueCodec.DecodeValue(value, glue);
                if (player == null) continue;
                if (value == null) player.Props.Remove(kv.Key);
                else player.Props[kv.Key] = value;
            }
            return table;
        }
    }

    /// <summary>Who we are: the config override, else player-state.json, else the OS user.</summary>
    internal struct PlayerIdentity
    {
        public string Name;
        public string Id;

        public static PlayerIdentity Load(ShimSettings settings, ManualLogSource log)
        {
            PlayerIdentity me = new PlayerIdentity { Name = settings.PlayerName.Value, Id = "" };
            string path = Path.Combine(Application.streamingAssetsPath, "game/storage/offline/state/player/player-state.json");
            try
            {
                if (File.Exists(path))
                {
                    Dictionary<string, object> state = Json.Parse(File.ReadAllText(path)) as Dictionary<string, object>;
                    object v;
                    if (state != null && string.IsNullOrEmpty(me.Name) && state.TryGetValue("profile-name", out v)) me.Name = v as string;
                    if (state != null && state.TryGetValue("player-id", out v)) me.Id = (v as string) ?? "";
                }
            }
            catch (Exception e)
            {
                log.LogWarning("could not read " + path + ": " + e.Message);
            }
            if (string.IsNullOrEmpty(me.Name)) me.Name = Environment.UserName;
            return me;
        }
    }
}
