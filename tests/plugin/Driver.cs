// The plugin's behaviour test, one game per process: tests/plugin.rs runs
// this program under mono with the Propwash.Shim.dll that shim/build.sh
// built against the stubs, bound at run time to the fakes of this folder
// (UnityEngine, 0Harmony, BepInEx, Photon3Unity3D: Exit Games' client
// library with a PhotonPeer that reaches no server) and to the PUN Classic
// stand-in (PunClassic.cs, as the game's Assembly-CSharp-firstpass.dll),
// with the real libpropwash. Each game writes BepInEx/config/propwash.cfg
// and PUN's PhotonServerSettings, adds the plugin to a GameObject (Awake:
// config, identity, PhotonPeer patched) and then plays as a game does: it
// calls PhotonNetwork, runs Unity's frames and records the callbacks PUN
// sends by name, the RPCs, instantiations and view updates its objects
// get, and checks each against what PUN Classic on Photon's servers does.
//
// Roles (argv[0]); the environment names the game folder
// (PROPWASH_TEST_GAME), the coordinator (PROPWASH_TEST_COORDINATOR), the
// host's port (PROPWASH_TEST_PORT) and the game version
// (PROPWASH_TEST_GAME_VERSION):
//   declined  no native library: the plugin declines, patches nothing, and PUN runs on Photon's own
//             PhotonPeer (its original bodies run: OnFailedToConnectToPhoton(ExceptionOnConnect))
//   nolobby   no coordinator, a self-hosted master: the lobby-less failures with Photon's codes,
//             an empty room list, a CreateRoom whose port is taken, JoinOrCreateRoom hosting,
//             Disconnect in a room, connecting again, and PUN on its own peer once the plugin unloads
//   host      the room "Plugin Race" (MaxPlayers 3) through the name server and the master, its
//             drone, a scene crate, buffered RPCs and cached game events; then the other games'
//             traffic, cache and property removals, an interest group event, the master client
//             handed over, the door closed and opened, CloseConnection, and LeaveRoom at the end
//   join      the room list, JoinRandomRoom by expected properties (a miss, then the host's room),
//             buffered RPCs and cached events, RPCs to every target (ViaServer ones too, a 12000-byte
//             argument), game events, properties with check-and-set (its own, the room's, the
//             host's), interest groups, view updates both ways, a Destroy, the master client
//             handed over and back, DestroyPlayerObjects as the master, LeaveRoom
//   late      JoinRoom by name into a room with a history, with properties set before joining and
//             PUN's queue paused in OnJoinedRoom (a level load): the cache replayed once and in order
//             (instantiations, buffered RPCs, events, minus what was removed), the room's state and
//             clock from OnJoinedRoom on, a rename, others leaving, the host closing
//             (OnConnectionFail(DisconnectByServerLogic))
//   stranger  refusals with Photon's codes (full, no such room, no random match, closed), the lobby's
//             updates (full, closed, hidden, shown again, gone), then JoinOrCreateRoom of the hidden
//             room by its name that joins and sees only what the room still holds, CloseConnection
//   victim    a room of its own game version ("Victim Room", MaxPlayers 2) sending an RPC every 0.25 s
//             until it is killed
//   direct    JoinRandomRoom with an expected MaxPlayers no room has; without a coordinator,
//             JoinRandomRoom to Network.JoinAddress; JoinRoom by the victim's ip:port, PUN's queue
//             paused 6 s (longer than the link's timeout) without losing anything, then the victim
//             gone silent: OnConnectionFail(DisconnectByClientTimeout)
// The games meet in one room; tests/plugin.rs sequences them with lines on stdin (commands) and
// stdout (markers). Every wait is bounded. Prints "plugin ROLE: N passed, M failed, K known bugs"
// last and exits non-zero when a check failed.
//
// Known bugs: checks of what PUN Classic does on Photon that propwash does not do yet, run with
// KnownBug instead of Check. Each prints "KNOWN-BUG id - ..." while it still fails, and fails the
// run once it passes (then it becomes a plain Check):
//   random-room-name   JoinRandomRoom through Network.JoinAddress answers with the address as the
//                      room's name, so PhotonNetwork.room.Name is not the name the host created it with
using System;
using System.Collections;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using BepInEx.Logging;
using ExitGames.Client.Photon;
using Propwash.Shim;
using UnityEngine;
using Debug = UnityEngine.Debug;
using Hashtable = ExitGames.Client.Photon.Hashtable;

namespace Propwash.PluginTest
{
    /// <summary>The game's callback target: every PUN callback it receives, described as it came.</summary>
    public sealed class PunCallbacks : Photon.PunBehaviour
    {
        public sealed class Call
        {
            public string Name;
            public object[] Args;
            /// <summary>The arguments as they were when the callback came (PUN may change its tables later).</summary>
            public string Shown;
            /// <summary>The room, players and master when it came.</summary>
            public string State;

            public override string ToString()
            {
                return Name + "(" + Shown + ")";
            }
        }

        public readonly List<Call> Calls = new List<Call>();

        private void Record(string name, params object[] args)
        {
            List<string> shown = new List<string>();
            foreach (object a in args) shown.Add(Program.Show(a));
            Call c = new Call { Name = name, Args = args, Shown = string.Join(", ", shown.ToArray()), State = Program.RoomState() };
            Calls.Add(c);
            Console.WriteLine("callback " + c);
        }

        public int Count(string name)
        {
            return Calls.FindAll(c => c.Name == name).Count;
        }

        public Call Last(string name)
        {
            return Calls.FindLast(c => c.Name == name);
        }

        public int IndexOf(string name)
        {
            return Calls.FindIndex(c => c.Name == name);
        }

        public int LastIndexOf(string name)
        {
            return Calls.FindLastIndex(c => c.Name == name);
        }

        /// <summary>The calls of one name after the first <paramref name="skip"/>, shown and joined with " | ".</summary>
        public string Shown(string name, int skip)
        {
            List<Call> all = Calls.FindAll(c => c.Name == name);
            List<string> s = new List<string>();
            for (int i = skip; i < all.Count; i++) s.Add(all[i].Shown);
            return string.Join(" | ", s.ToArray());
        }

        public override void OnConnectedToPhoton() { Record("OnConnectedToPhoton"); }
        public override void OnConnectedToMaster() { Record("OnConnectedToMaster"); }
        public override void OnJoinedLobby() { Record("OnJoinedLobby"); }
        public override void OnLeftLobby() { Record("OnLeftLobby"); }
        public override void OnReceivedRoomListUpdate() { Record("OnReceivedRoomListUpdate", (object)PhotonNetwork.GetRoomList()); }
        public override void OnCreatedRoom() { Record("OnCreatedRoom"); }
        /// <summary>A level load's way: the queue paused in OnJoinedRoom, so what follows the join waits for the scene.</summary>
        public static bool PauseQueueOnJoin;

        /// <summary>What the game does in OnJoinedRoom, if anything.</summary>
        public static Action OnJoined;

        public override void OnJoinedRoom()
        {
            Record("OnJoinedRoom");
            if (OnJoined != null) OnJoined();
            if (PauseQueueOnJoin) PhotonNetwork.isMessageQueueRunning = false;
        }
        public override void OnLeftRoom() { Record("OnLeftRoom"); }
        public override void OnPhotonCreateRoomFailed(object[] codeAndMsg) { Record("OnPhotonCreateRoomFailed", (object)codeAndMsg); }
        public override void OnPhotonJoinRoomFailed(object[] codeAndMsg) { Record("OnPhotonJoinRoomFailed", (object)codeAndMsg); }
        public override void OnPhotonRandomJoinFailed(object[] codeAndMsg) { Record("OnPhotonRandomJoinFailed", (object)codeAndMsg); }
        public override void OnPhotonPlayerConnected(PhotonPlayer newPlayer) { Record("OnPhotonPlayerConnected", newPlayer); }
        public override void OnPhotonPlayerDisconnected(PhotonPlayer otherPlayer) { Record("OnPhotonPlayerDisconnected", otherPlayer); }
        public override void OnMasterClientSwitched(PhotonPlayer newMasterClient) { Record("OnMasterClientSwitched", newMasterClient); }
        public override void OnPhotonCustomRoomPropertiesChanged(Hashtable propertiesThatChanged) { Record("OnPhotonCustomRoomPropertiesChanged", propertiesThatChanged); }
        public override void OnPhotonPlayerPropertiesChanged(object[] playerAndUpdatedProps) { Record("OnPhotonPlayerPropertiesChanged", (object)playerAndUpdatedProps); }
        public override void OnDisconnectedFromPhoton() { Record("OnDisconnectedFromPhoton"); }
        public override void OnConnectionFail(DisconnectCause cause) { Record("OnConnectionFail", cause); }
        public override void OnFailedToConnectToPhoton(DisconnectCause cause) { Record("OnFailedToConnectToPhoton", cause); }
    }

    /// <summary>
    /// The script of the networked prefabs: its RPCs, its view updates (a counter and a position
    /// that follows it, so a reader can tell a value from a stale one) and OnPhotonInstantiate.
    /// </summary>
    public sealed class DroneScript : Photon.MonoBehaviour
    {
        /// <summary>Every RPC run in this game, as "viewId Method(args) from actor", in order.</summary>
        public static readonly List<string> Rpcs = new List<string>();
        /// <summary>Every object instantiated here: "viewId by actor data".</summary>
        public static readonly List<string> Instantiated = new List<string>();
        /// <summary>The Written counts other games announced, by sender.</summary>
        public static readonly Dictionary<int, int> Announced = new Dictionary<int, int>();
        /// <summary>The largest |PhotonNetwork.time - info.timestamp| an RPC arrived with, in seconds.</summary>
        public static double WorstRpcClock;

        public int Written, Read, LastRead;
        public bool InOrder = true, PositionsMatch = true;
        public double FirstWrite = -1, LastWrite = -1, FirstRead = -1, LastRead2 = -1;
        private int viewId;

        private void Awake()
        {
            PhotonView v = GetComponent<PhotonView>();
            viewId = v == null ? 0 : v.viewID;
        }

        public int ViewId
        {
            get { return viewId; }
        }

        private void Note(string what, PhotonMessageInfo info)
        {
            string line = viewId + " " + what + " from " + (info.sender == null ? "?" : info.sender.ID.ToString(CultureInfo.InvariantCulture));
            Rpcs.Add(line);
            Console.WriteLine("rpc " + line);
        }

        [PunRPC]
        private void Buffered(int n, PhotonMessageInfo info)
        {
            Note("Buffered(" + n + ")", info);
        }

        [PunRPC]
        private void Shortcut(string s, PhotonMessageInfo info)
        {
            Note("Shortcut(" + s + ")", info);
        }

        /// <summary>Sent as it is called (never buffered): its timestamp should be close to the room's clock now.</summary>
        [PunRPC]
        private void Hello(string what, PhotonMessageInfo info)
        {
            Program.SeenAt[what] = Program.Properties();
            double skew = Math.Abs(PhotonNetwork.time - info.timestamp);
            if (info.sender != null && !info.sender.IsLocal && skew > WorstRpcClock) WorstRpcClock = skew;
            Note("Hello(" + what + ")", info);
        }

        /// <summary>Without a PhotonMessageInfo: PUN matches the argument list alone.</summary>
        [PunRPC]
        private void Plain(int a, string b)
        {
            string line = viewId + " Plain(" + a + "," + b + ")";
            Rpcs.Add(line);
            Console.WriteLine("rpc " + line);
        }

        /// <summary>Sent with AllViaServer / AllBufferedViaServer: it runs here only when the server sends it back.</summary>
        [PunRPC]
        private void Via(string what, PhotonMessageInfo info)
        {
            Program.SeenAt[what] = Program.Properties();
            Note("Via(" + what + ")", info);
        }

        /// <summary>A large argument: its length and a checksum tell it arrived whole.</summary>
        [PunRPC]
        private void Blob(byte[] data, PhotonMessageInfo info)
        {
            Note("Blob(" + data.Length + "," + Program.Checksum(data) + ")", info);
        }

        [PunRPC]
        private void Tick(int n, PhotonMessageInfo info)
        {
            Ticks.Add(n);
            Note("Tick(" + n + ")", info);
        }

        /// <summary>The Tick numbers, in the order they ran.</summary>
        public static readonly List<int> Ticks = new List<int>();

        [PunRPC]
        private void WrittenCount(int count, PhotonMessageInfo info)
        {
            Announced[info.sender.ID] = count;
            Note("WrittenCount(" + count + ")", info);
        }

        private void OnPhotonInstantiate(PhotonMessageInfo info)
        {
            object[] data = photonView.instantiationData;
            string line = viewId + " by " + (info.sender == null ? "?" : info.sender.ID.ToString(CultureInfo.InvariantCulture)) + " " + Program.Show(data);
            Instantiated.Add(line);
            Console.WriteLine("instantiated " + line);
        }

        /// <summary>Writing: the count so far, and a position whose x is that count. Reading: both, checked against each other.</summary>
        private void OnPhotonSerializeView(PhotonStream stream, PhotonMessageInfo info)
        {
            double now = Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;
            if (stream.isWriting)
            {
                Written++;
                transform.position = new Vector3(Written, 1f, 2f);
                stream.SendNext(Written);
                stream.SendNext(transform.position);
                if (FirstWrite < 0) FirstWrite = now;
                LastWrite = now;
                return;
            }
            int n = (int)stream.ReceiveNext();
            Vector3 p = (Vector3)stream.ReceiveNext();
            if (n <= LastRead) InOrder = false;
            if (Math.Abs(p.x - n) > 0.001f) PositionsMatch = false;
            LastRead = n;
            Read++;
            transform.position = p;
            if (FirstRead < 0) FirstRead = now;
            LastRead2 = now;
        }
    }

    /// <summary>The scene crate's script: a phase that changes now and then and a label that never does (ReliableDeltaCompressed sends it once).</summary>
    public sealed class CrateScript : Photon.MonoBehaviour
    {
        public int Phase, Reads;
        public string Label = "crate";
        public bool LabelKept = true;

        private void OnPhotonInstantiate(PhotonMessageInfo info)
        {
            string line = photonView.viewID + " by " + (info.sender == null ? "?" : info.sender.ID.ToString(CultureInfo.InvariantCulture)) + " " + Program.Show(photonView.instantiationData);
            DroneScript.Instantiated.Add(line);
            Console.WriteLine("instantiated " + line);
        }

        private void OnPhotonSerializeView(PhotonStream stream, PhotonMessageInfo info)
        {
            if (stream.isWriting)
            {
                stream.SendNext(Phase);
                stream.SendNext(Label);
                return;
            }
            Phase = (int)stream.ReceiveNext();
            string label = (string)stream.ReceiveNext();
            if (label != "crate") LabelKept = false;
            Reads++;
        }
    }

    /// <summary>One game: its folder, the plugin on a GameObject, the callback target.</summary>
    internal sealed class Game
    {
        public PropwashPlugin Plugin;
        public PunCallbacks Pun;
        private GameObject pluginObject;

        /// <summary>
        /// A game in <paramref name="root"/> (the folder holding BepInEx and DRL Simulator_Data)
        /// with this propwash.cfg, PUN's settings and prefabs in Resources; the plugin is not loaded yet.
        /// </summary>
        public static Game Start(string root, ServerSettings.HostingOption hosting, bool joinLobby, params string[] cfg)
        {
            string config = Path.Combine(Path.Combine(root, "BepInEx"), "config");
            string streaming = Path.Combine(Path.Combine(root, "DRL Simulator_Data"), "StreamingAssets");
            Directory.CreateDirectory(config);
            Directory.CreateDirectory(streaming);
            BepInEx.Paths.SetGameRoot(root);
            File.WriteAllText(Path.Combine(config, "propwash.cfg"), string.Join("\n", cfg) + "\n");
            Application.version = Program.GameVersion;
            Application.streamingAssetsPath = streaming;

            ServerSettings s = ScriptableObject.CreateInstance<ServerSettings>();
            s.AppID = "00000000-0000-0000-0000-000000000000";
            s.HostType = hosting;
            s.PreferredRegion = CloudRegionCode.eu;
            s.ServerAddress = "127.0.0.1";
            s.ServerPort = 5055;
            s.JoinLobby = joinLobby;
            s.RpcList = new List<string> { "Shortcut" };
            Resources.Add("PhotonServerSettings", s);
            Prefab("Drone", ViewSynchronization.Unreliable, false);
            Prefab("Box", ViewSynchronization.Off, false);
            Prefab("Crate", ViewSynchronization.ReliableDeltaCompressed, true);

            Game g = new Game();
            g.Pun = new GameObject("Game").AddComponent<PunCallbacks>();
            return g;
        }

        private static void Prefab(string name, ViewSynchronization sync, bool crate)
        {
            GameObject p = GameObject.CreatePrefab(name);
            PhotonView v = p.AddComponent<PhotonView>();
            Component observed = crate ? (Component)p.AddComponent<CrateScript>() : p.AddComponent<DroneScript>();
            v.ObservedComponents = new List<Component> { observed };
            v.synchronization = sync;
            Resources.Add(name, p);
        }

        /// <summary>
        /// Adds the plugin as BepInEx does (Awake at once), then takes PhotonNetwork.OnEventCall
        /// (the first use of PUN in most games: BepInEx loads plugins before the game's scene
        /// scripts run).
        /// </summary>
        public void LoadPlugin()
        {
            pluginObject = new GameObject("BepInEx_Manager");
            Plugin = pluginObject.AddComponent<PropwashPlugin>();
            if (listening) return;
            listening = true;
            PhotonNetwork.OnEventCall += (code, content, sender) =>
            {
                // Event 46 carries its sender's PhotonNetwork.ServerTimestamp: how far it is from ours now.
                if (code == 46 && content is int) Program.ClockSkews[sender] = unchecked(PhotonNetwork.ServerTimestamp - (int)content);
                string line = code + " " + Program.Show(content) + " from " + sender;
                Program.Events.Add(line);
                Console.WriteLine("event " + line);
            };
        }

        private bool listening;

        public void Unload()
        {
            UnityEngine.Object.Destroy(pluginObject);
        }

        /// <summary>A config value as the player would edit it in game (BepInEx's ConfigurationManager).</summary>
        public void Set(string section, string key, string value)
        {
            Plugin.Config.Bind(section, key, "", "").Value = value;
        }

        /// <summary>One Unity frame (FixedUpdate, Update: PUN's PhotonHandler and the plugin), then a short sleep.</summary>
        public void Frame()
        {
            Engine.Frame();
            Thread.Sleep(2);
        }

        /// <summary>Runs frames until <paramref name="done"/> or <paramref name="seconds"/>; returns done().</summary>
        public bool Until(Func<bool> done, double seconds)
        {
            Stopwatch sw = Stopwatch.StartNew();
            while (!done())
            {
                if (sw.Elapsed.TotalSeconds > seconds) return false;
                Frame();
            }
            return true;
        }

        public void For(double seconds)
        {
            Until(() => false, seconds);
        }

        /// <summary>Runs frames until the test sends <paramref name="command"/> on stdin; false on another line, the end of stdin or the time limit.</summary>
        public bool Await(string command, double seconds)
        {
            Console.WriteLine("AWAIT " + command);
            string got = null;
            bool arrived = Until(() => Commands.TryTake(out got), seconds);
            if (!arrived)
            {
                Program.Fail("the test sent \"" + command + "\" within " + seconds + " s");
                return false;
            }
            if (got != command)
            {
                Program.Fail("the test sent \"" + command + "\", not \"" + got + "\"");
                return false;
            }
            return true;
        }
    }

    /// <summary>Lines from stdin, read on a thread of their own; null marks its end.</summary>
    internal static class Commands
    {
        private static readonly Queue<string> Lines = new Queue<string>();
        private static bool ended;

        public static void Start()
        {
            Thread t = new Thread(() =>
            {
                string line;
                while ((line = Console.In.ReadLine()) != null)
                {
                    lock (Lines) Lines.Enqueue(line.Trim());
                }
                lock (Lines) ended = true;
            });
            t.IsBackground = true;
            t.Start();
        }

        public static bool TryTake(out string line)
        {
            lock (Lines)
            {
                if (Lines.Count > 0)
                {
                    line = Lines.Dequeue();
                    return true;
                }
                line = ended ? "(end of stdin)" : null;
                return ended;
            }
        }
    }

    internal static class Program
    {
        public static string GameVersion = "";
        private const string RoomName = "Plugin Race";
        private const double Wait = 8.0, LongWait = 15.0, Command = 90.0;

        private static int passed, failed, known;
        /// <summary>The game events (codes below 200) PUN handed to PhotonNetwork.OnEventCall: "code content from sender".</summary>
        public static readonly List<string> Events = new List<string>();
        /// <summary>By the argument of a Hello or Via RPC: the room's and the players' properties when it ran (Properties()).</summary>
        public static readonly Dictionary<string, string> SeenAt = new Dictionary<string, string>();

        /// <summary>"room {..} #1 {..} #2 {..}": every custom property known here now.</summary>
        public static string Properties()
        {
            if (PhotonNetwork.room == null) return "no room";
            List<string> parts = new List<string> { "room " + Show(PhotonNetwork.room.CustomProperties) };
            List<PhotonPlayer> players = new List<PhotonPlayer>(PhotonNetwork.playerList);
            players.Sort((a, b) => a.ID.CompareTo(b.ID));
            foreach (PhotonPlayer p in players) parts.Add("#" + p.ID + " " + Show(p.CustomProperties));
            return string.Join(" ", parts.ToArray());
        }

        /// <summary>By sender: our ServerTimestamp when its event 46 came, minus the one it sent (ms).</summary>
        public static readonly Dictionary<int, int> ClockSkews = new Dictionary<int, int>();

        /// <summary>Our PhotonNetwork.ServerTimestamp and this machine's clock (ms) in OnJoinedRoom, and whether the library had the host's clock then.</summary>
        private static long joinServerMs = -1, joinLocalMs;
        private static bool joinClockSynced;

        /// <summary>
        /// A joiner's first words: event 46 with its PhotonNetwork.ServerTimestamp, raised in
        /// OnJoinedRoom; the timestamp and this machine's clock are kept for ClockAtJoinChecks.
        /// </summary>
        private static void TellClockOnJoin()
        {
            PunCallbacks.OnJoined = () =>
            {
                joinServerMs = (uint)PhotonNetwork.ServerTimestamp;
                joinLocalMs = Stopwatch.GetTimestamp() * 1000 / Stopwatch.Frequency;
                PropwashSession session = PropwashPlugin.CurrentSession;
                joinClockSynced = session != null && session.Info().ClockSynced;
                Console.WriteLine("clock at OnJoinedRoom: " + joinServerMs + " ms, the host's clock " + (joinClockSynced ? "known" : "not known yet"));
                PhotonNetwork.RaiseEvent(46, PhotonNetwork.ServerTimestamp, true, null);
            };
        }

        /// <summary>
        /// Seconds after the join: the room's clock has moved on exactly as this machine's since
        /// OnJoinedRoom (within 250 ms), so the timestamp then was the room's already, not this
        /// machine's until the first estimate came (which would be off by about the room's age).
        /// </summary>
        private static void ClockAtJoinChecks()
        {
            long now = (uint)PhotonNetwork.ServerTimestamp, local = Stopwatch.GetTimestamp() * 1000 / Stopwatch.Frequency;
            long jump = (now - joinServerMs) - (local - joinLocalMs);
            Check(joinServerMs >= 0 && Math.Abs(jump) < 250,
                "PhotonNetwork.ServerTimestamp in OnJoinedRoom was the room's clock: it has kept pace with this machine's since (off by " + jump
                + " ms; the host's clock was " + (joinClockSynced ? "known" : "not known") + " then)");
        }
        private static Game game;

        private static int Main(string[] args)
        {
            string role = args.Length > 0 ? args[0] : "";
            Commands.Start();
            try
            {
                GameVersion = Env("PROPWASH_TEST_GAME_VERSION");
                switch (role)
                {
                    case "declined": Declined(); break;
                    case "nolobby": NoLobby(); break;
                    case "host": Host(); break;
                    case "join": Join(); break;
                    case "late": Late(); break;
                    case "stranger": Stranger(); break;
                    case "victim": Victim(); break;
                    case "direct": Direct(); break;
                    default: Fail("unknown role \"" + role + "\""); break;
                }
            }
            catch (Exception e)
            {
                Fail("unexpected exception: " + e);
            }
            Check(Engine.Exceptions == 0, "no exception escaped a Unity message or callback");
            Console.WriteLine("plugin " + role + ": " + passed + " passed, " + failed + " failed, " + known + " known bugs");
            Console.Out.Flush();
            return failed == 0 ? 0 : 1;
        }

        // ---- declined: no native library -------------------------------------------

        private static void Declined()
        {
            Game g = game = Game.Start(Env("PROPWASH_TEST_GAME"), ServerSettings.HostingOption.SelfHosted, false,
                "[Identity]", "Offline = true", "OfflineName = Plugin Declined");
            PhotonPeer.ResetOriginalCalls();
            g.LoadPlugin();
            Check(!g.Plugin.enabled && Logged("Error the propwash native library could not be used"),
                "without libpropwash the plugin logs why and disables itself");
            Check(HarmonyLib.Harmony.PatchedMethods().Count == 0, "... and patches nothing (" + HarmonyLib.Harmony.PatchedMethods().Count + " patched)");

            Check(PhotonNetwork.ConnectUsingSettings("1.0"), "ConnectUsingSettings on the unpatched peer returns true (Photon's Connect started)");
            Check(g.Until(() => g.Pun.Count("OnFailedToConnectToPhoton") == 1, Wait), "... PUN gets Photon's own ExceptionOnConnect: OnFailedToConnectToPhoton");
            Check(Args(g.Pun.Last("OnFailedToConnectToPhoton"), DisconnectCause.ExceptionOnConnect), "... with DisconnectCause.ExceptionOnConnect: " + g.Pun.Last("OnFailedToConnectToPhoton"));
            g.For(0.3);
            Check(g.Pun.Count("OnConnectedToPhoton") == 0 && g.Pun.Count("OnConnectedToMaster") == 0 && !PhotonNetwork.connected,
                "... and nothing else: no OnConnectedToPhoton, no OnConnectedToMaster, not connected");
            Check(PhotonPeer.OriginalCallsOf("Connect") >= 1 && PhotonPeer.OriginalCallsOf("DispatchIncomingCommands") >= 1 && PhotonPeer.OriginalCallsOf("get_PeerState") >= 1,
                "PhotonPeer's own Connect, DispatchIncomingCommands and PeerState ran: " + PhotonPeer.OriginalCallSummary());
            Check(PhotonPeer.OriginalCallsOf("SendOperation") == 0, "... and no operation was sent (PUN never got past connecting)");
            NoErrorsButExpected();
        }

        // ---- nolobby: no coordinator ---------------------------------------------------

        private static void NoLobby()
        {
            int port = int.Parse(Env("PROPWASH_TEST_PORT"), CultureInfo.InvariantCulture);
            Game g = game = Game.Start(Env("PROPWASH_TEST_GAME"), ServerSettings.HostingOption.SelfHosted, false,
                "[Network]", "Coordinator = ", "JoinAddress = ", "BindAddress = 127.0.0.1", "GamePort = " + port,
                "[Identity]", "Offline = true", "OfflineName = Plugin Solo",
                "[Rates]", "SendHz = 30");
            g.LoadPlugin();
            Loaded(g);
            PhotonPeer.ResetOriginalCalls();

            Check(PhotonNetwork.ConnectUsingSettings("1.0"), "ConnectUsingSettings (self-hosted master) returns true");
            Check(g.Until(() => g.Pun.Count("OnConnectedToMaster") == 1, Wait), "... OnConnectedToMaster (ServerSettings.JoinLobby is off)");
            Check(g.Pun.Count("OnConnectedToPhoton") == 1 && g.Pun.IndexOf("OnConnectedToPhoton") < g.Pun.IndexOf("OnConnectedToMaster") && g.Pun.Count("OnJoinedLobby") == 0,
                "... after OnConnectedToPhoton, and no lobby joined");
            Check(Traced("connect MasterServer 127.0.0.1:5055") && !Traced("connect NameServer"), "PUN connected straight to the self-hosted master, no name server");
            Check(PhotonNetwork.connectedAndReady && PhotonNetwork.Server == ServerConnection.MasterServer && PhotonNetwork.connectionStateDetailed == ClientState.ConnectedToMaster,
                "connectedAndReady on the master, state ConnectedToMaster");
            Check(PhotonNetwork.sendRate == 30 && PhotonNetwork.sendRateOnSerialize == 30, "the plugin set PUN's sendRate and sendRateOnSerialize to Rates.SendHz (30): " + PhotonNetwork.sendRate + "/" + PhotonNetwork.sendRateOnSerialize);
            OnlyPatchedBodies("connecting");

            Check(PhotonNetwork.JoinRandomRoom(), "JoinRandomRoom without a lobby is sent");
            Check(g.Until(() => g.Pun.Count("OnPhotonRandomJoinFailed") == 1, Wait)
                && CodeAndMsg(g.Pun.Last("OnPhotonRandomJoinFailed"), 32760, "propwash: there is no lobby to find a room in; set Network.Coordinator, or Network.JoinAddress to a host's ip:port"),
                "... OnPhotonRandomJoinFailed(object[] { (short)32760 NoRandomMatchFound, the plugin's message }): " + g.Pun.Last("OnPhotonRandomJoinFailed"));
            Check(PhotonNetwork.JoinRoom("Nowhere"), "JoinRoom(\"Nowhere\") is sent");
            Check(g.Until(() => g.Pun.Count("OnPhotonJoinRoomFailed") == 1, Wait)
                && CodeAndMsg(g.Pun.Last("OnPhotonJoinRoomFailed"), 32758, "propwash: no room called \"Nowhere\" is known here; set Network.Coordinator to find listed rooms, or give an ip:port"),
                "... OnPhotonJoinRoomFailed(object[] { (short)32758 GameDoesNotExist, message }): " + g.Pun.Last("OnPhotonJoinRoomFailed"));
            Check(PhotonNetwork.connectedAndReady && PhotonNetwork.Server == ServerConnection.MasterServer, "... still on the master, ready");

            Check(PhotonNetwork.JoinLobby(), "JoinLobby is sent");
            Check(g.Until(() => g.Pun.Count("OnReceivedRoomListUpdate") == 1, Wait) && g.Pun.Count("OnJoinedLobby") == 1 && PhotonNetwork.insideLobby,
                "... OnJoinedLobby and OnReceivedRoomListUpdate, insideLobby");
            Check(PhotonNetwork.GetRoomList().Length == 0 && g.Pun.Last("OnReceivedRoomListUpdate").Shown == "[]", "... GetRoomList() is empty without a coordinator");
            Check(PhotonNetwork.LeaveLobby() && g.Until(() => g.Pun.Count("OnLeftLobby") == 1, Wait) && !PhotonNetwork.insideLobby, "LeaveLobby: OnLeftLobby, not insideLobby");

            // The room's port is taken: hosting fails on the game server, PUN goes back to the master.
            using (UdpClient taken = new UdpClient(new IPEndPoint(IPAddress.Loopback, port)))
            {
                Check(PhotonNetwork.CreateRoom("Blocked", new RoomOptions { MaxPlayers = 4 }, null), "CreateRoom while the game port is taken is sent");
                Check(g.Until(() => g.Pun.Count("OnPhotonCreateRoomFailed") == 1, LongWait), "... OnPhotonCreateRoomFailed from the game server");
                PunCallbacks.Call failedCreate = g.Pun.Last("OnPhotonCreateRoomFailed");
                Check(failedCreate != null && failedCreate.Args[0] is object[] && ((object[])failedCreate.Args[0]).Length == 2
                    && Equals(((object[])failedCreate.Args[0])[0], (short)-1) && ((object[])failedCreate.Args[0])[1] is string && ((string)((object[])failedCreate.Args[0])[1]).StartsWith("propwash: ", StringComparison.Ordinal),
                    "... with object[] { (short)-1 InternalServerError, \"propwash: why\" }: " + failedCreate);
                Check(g.Until(() => g.Pun.Count("OnConnectedToMaster") == 2, Wait) && PhotonNetwork.Server == ServerConnection.MasterServer && PhotonNetwork.room == null,
                    "... then PUN is back on the master: OnConnectedToMaster again, no room");
                Check(g.Pun.Count("OnJoinedRoom") == 0 && g.Pun.Count("OnCreatedRoom") == 0, "... and no OnCreatedRoom or OnJoinedRoom");
            }

            // JoinOrCreateRoom with nothing to join hosts: OnCreatedRoom comes with our own join as actor 1.
            Check(PhotonNetwork.JoinOrCreateRoom("Solo Room", new RoomOptions { MaxPlayers = 4, CustomRoomProperties = Table("mode", "solo") }, TypedLobby.Default),
                "JoinOrCreateRoom(\"Solo Room\") with nothing to join is sent");
            Check(g.Until(() => g.Pun.Count("OnJoinedRoom") == 1, LongWait), "... OnJoinedRoom");
            Check(g.Pun.Count("OnCreatedRoom") == 1 && g.Pun.IndexOf("OnCreatedRoom") < g.Pun.IndexOf("OnJoinedRoom"), "... after OnCreatedRoom (actor 1 of a JoinOrCreateRoom)");
            Room room = PhotonNetwork.room;
            Check(room != null && room.Name == "Solo Room" && room.MaxPlayers == 4 && Equals(room.CustomProperties["mode"], "solo") && room.IsOpen && room.IsVisible,
                "PhotonNetwork.room: \"Solo Room\", MaxPlayers 4, mode = solo, open, visible: " + room);
            Check(PhotonNetwork.inRoom && PhotonNetwork.isMasterClient && PhotonNetwork.player.ID == 1 && PhotonNetwork.playerList.Length == 1 && PhotonNetwork.otherPlayers.Length == 0,
                "inRoom, isMasterClient, actor 1, alone");
            Check(PhotonNetwork.ServerTimestamp >= 0 && PhotonNetwork.ServerTimestamp < 60000,
                "PhotonNetwork.ServerTimestamp is the room's clock, which starts with the room (not the machine's uptime): " + PhotonNetwork.ServerTimestamp + " ms");

            // Alone in a room PUN serializes nothing.
            GameObject drone = PhotonNetwork.Instantiate("Drone", new Vector3(1f, 2f, 3f), Quaternion.identity, 0);
            Check(drone != null && drone.GetComponent<PhotonView>().viewID == 1001 && drone.GetComponent<PhotonView>().isMine, "Instantiate alone: view 1001, ours");
            g.For(0.4);
            Check(drone.GetComponent<DroneScript>().Written == 0, "... and nothing is serialized while we are alone");
            Check(PhotonNetwork.RaiseEvent(7, new[] { 1, 2 }, true, null), "RaiseEvent in the room is sent");

            PhotonNetwork.Disconnect();
            Check(g.Until(() => g.Pun.Count("OnDisconnectedFromPhoton") == 1, Wait), "Disconnect in the room: OnDisconnectedFromPhoton");
            Check(g.Pun.Count("OnLeftRoom") == 1 && g.Pun.IndexOf("OnLeftRoom") < g.Pun.IndexOf("OnDisconnectedFromPhoton") && g.Pun.Count("OnConnectionFail") == 0,
                "... after OnLeftRoom, and no OnConnectionFail (we asked)");
            Check(!PhotonNetwork.connected && PhotonNetwork.room == null && drone == null && PhotonNetwork.connectionStateDetailed == ClientState.PeerCreated,
                "... not connected, no room, the drone destroyed with the room, state PeerCreated");
            Check(Logged("Info photon: the room is closed") || Logged("Info photon: leaving the room"), "... and the plugin closed the room");

            Check(PhotonNetwork.ConnectUsingSettings("1.0") && g.Until(() => g.Pun.Count("OnConnectedToMaster") == 3, Wait), "connecting again: OnConnectedToMaster");
            Check(g.Pun.Count("OnConnectedToPhoton") == 2, "... after a second OnConnectedToPhoton");
            PhotonNetwork.Disconnect();
            Check(g.Until(() => g.Pun.Count("OnDisconnectedFromPhoton") == 2, Wait) && g.Pun.Count("OnLeftRoom") == 1, "Disconnect on the master: OnDisconnectedFromPhoton, no OnLeftRoom");
            OnlyPatchedBodies("the whole game");

            // Unloaded, the plugin leaves PhotonPeer as it found it: PUN meets Photon's own peer.
            g.Unload();
            Check(HarmonyLib.Harmony.PatchedMethods().Count == 0, "OnDestroy: every patch removed");
            PhotonPeer.ResetOriginalCalls();
            Check(PhotonNetwork.ConnectUsingSettings("1.0") && g.Until(() => g.Pun.Count("OnFailedToConnectToPhoton") == 1, Wait)
                && Args(g.Pun.Last("OnFailedToConnectToPhoton"), DisconnectCause.ExceptionOnConnect),
                "unloaded: ConnectUsingSettings meets Photon's peer, which reaches nothing: OnFailedToConnectToPhoton(ExceptionOnConnect)");
            Check(PhotonPeer.OriginalCallsOf("Connect") >= 1 && PhotonPeer.OriginalCallsOf("DispatchIncomingCommands") >= 1, "... PhotonPeer's own bodies ran: " + PhotonPeer.OriginalCallSummary());
            NoErrorsButExpected("Operation failed: OperationResponse 226", "Operation failed: OperationResponse 227", "Error photon: hosting \"Blocked\" failed: pw_session_host failed: PW_RESULT_BIND_FAILED");
        }

        // ---- host ---------------------------------------------------------------------------

        private static readonly Vector3 HostAt = new Vector3(-4f, 5f, 6f);

        private static void Host()
        {
            Game g = game = Game.Start(Env("PROPWASH_TEST_GAME"), ServerSettings.HostingOption.PhotonCloud, true,
                "[Network]", "Coordinator = " + Env("PROPWASH_TEST_COORDINATOR"), "BindAddress = 127.0.0.1", "GamePort = " + Env("PROPWASH_TEST_PORT"),
                "[Identity]", "Offline = true", "OfflineName = Plugin Host",
                "[Lobby]", "MapIdProperty = map", "TrackIdProperty = track", "LapsProperty = laps", "RefreshSeconds = 2",
                "[Rates]", "SendHz = 30");
            // PUN is up before the plugin loads (a plugin loaded late): the patches still reach its peer.
            Check(!PhotonNetwork.connected && PhotonNetwork.connectionStateDetailed == ClientState.PeerCreated, "PUN's peer exists before the plugin: PeerCreated");
            g.LoadPlugin();
            Loaded(g);
            PhotonNetwork.playerName = "Plugin Host";
            Check(g.Until(() => Logged("Info player-state.json updated (steam-id, profile-name, profile-photo-url)"), LongWait),
                "identity: player-state.json synced from Update (steam-id, profile-name, profile-photo-url)");
            Console.WriteLine("IDENTITY-SYNCED");
            PhotonPeer.ResetOriginalCalls();

            Check(PhotonNetwork.ConnectUsingSettings("1.0"), "ConnectUsingSettings (PhotonCloud, region eu) returns true");
            Check(g.Until(() => g.Pun.Count("OnJoinedLobby") == 1, Wait), "... OnJoinedLobby (ServerSettings.JoinLobby)");
            Check(g.Pun.Count("OnConnectedToPhoton") == 1 && g.Pun.Count("OnConnectedToMaster") == 0, "... after OnConnectedToPhoton; no OnConnectedToMaster when the lobby is joined by itself");
            Check(Traced("connect NameServer ns.exitgames.com:5058") && Traced("connect MasterServer propwash-master:5055")
                && TraceIndex("connect NameServer") < TraceIndex("connect MasterServer"), "PUN went to the name server, then to the master it named: " + string.Join(" | ", PhotonNetwork.Trace.ToArray()));
            Check(PhotonNetwork.AuthToken == "propwash" && PhotonNetwork.player.UserId != null && PhotonNetwork.player.UserId.Length > 0,
                "Authenticate gave PUN a token and our user id (" + PhotonNetwork.player.UserId + ")");
            Check(g.Until(() => g.Pun.Count("OnReceivedRoomListUpdate") >= 1, Wait), "... and the lobby's room list: OnReceivedRoomListUpdate");
            OnlyPatchedBodies("connecting");

            RoomOptions options = new RoomOptions
            {
                MaxPlayers = 3,
                CustomRoomProperties = Table("map", "MP-Plugin", "track", "CMP-42", "laps", 3, "mode", "race"),
                CustomRoomPropertiesForLobby = new[] { "map", "laps", "mode" },
            };
            Check(PhotonNetwork.CreateRoom(RoomName, options, null), "CreateRoom(\"" + RoomName + "\", MaxPlayers 3, map/track/laps) is sent");
            Check(g.Until(() => g.Pun.Count("OnJoinedRoom") == 1, LongWait), "... OnJoinedRoom");
            Check(g.Pun.Count("OnCreatedRoom") == 1 && g.Pun.IndexOf("OnCreatedRoom") < g.Pun.IndexOf("OnJoinedRoom"), "... after OnCreatedRoom");
            Check(g.Pun.Count("OnLeftLobby") == 1 && g.Pun.IndexOf("OnLeftLobby") < g.Pun.IndexOf("OnCreatedRoom"), "... PUN left the lobby on its way to the game server: OnLeftLobby first");
            Check(Traced("connect GameServer propwash-game:"), "... and connected to the game server address the master gave");
            PunCallbacks.Call created = g.Pun.Last("OnPhotonCustomRoomPropertiesChanged");
            Check(g.Pun.Count("OnPhotonCustomRoomPropertiesChanged") == 1 && g.Pun.IndexOf("OnPhotonCustomRoomPropertiesChanged") < g.Pun.IndexOf("OnCreatedRoom")
                && created.Shown.Contains("map=MP-Plugin (String)") && created.Shown.Contains("laps=3 (Int32)") && created.Shown.Contains("248=1 (Int32)"),
                "the game server's answer raised OnPhotonCustomRoomPropertiesChanged once, with the room's properties and master client 1, as PUN does: " + created);
            Room room = PhotonNetwork.room;
            Check(room != null && room.Name == RoomName && room.MaxPlayers == 3 && room.IsOpen && room.IsVisible && room.AutoCleanUp
                && Show(room.CustomProperties) == "{laps=3 (Int32), map=MP-Plugin (String), mode=race (String), track=CMP-42 (String)}",
                "PhotonNetwork.room: the name, MaxPlayers 3, open, visible, AutoCleanUp, and the four custom properties: " + (room == null ? "null" : room + " " + Show(room.CustomProperties)));
            Check(PhotonNetwork.isMasterClient && PhotonNetwork.player.ID == 1 && PhotonNetwork.masterClient == PhotonNetwork.player && PhotonNetwork.playerList.Length == 1,
                "isMasterClient, actor 1, masterClient is us, playerList holds us");
            Check(PhotonNetwork.player.NickName == "Plugin Host", "our NickName is the game's PhotonNetwork.playerName (" + PhotonNetwork.player.NickName + ")");
            Check(g.Until(() => PhotonNetwork.time > 0, Wait), "PhotonNetwork.time is the room's clock");
            Check(PhotonNetwork.GetPing() == 0 && PhotonPeer.OriginalCallsOf("get_RoundTripTime") == 0, "PhotonNetwork.GetPing() on the host, which is the room's server: 0 ms (" + PhotonNetwork.GetPing() + ")");
            Check(g.Until(() => Logged("Info photon: lobby: {\"kind\":\"registered\""), LongWait), "the room is listed at the coordinator");

            // The host's objects and buffered RPCs, before anyone is here.
            GameObject drone = PhotonNetwork.Instantiate("Drone", HostAt, Quaternion.identity, 0, new object[] { "host", 1 });
            PhotonView view = drone == null ? null : drone.GetComponent<PhotonView>();
            Check(view != null && view.viewID == 1001 && view.isMine && view.owner == PhotonNetwork.player && view.instantiationId == 1001 && !view.isSceneView,
                "Instantiate: view 1001 (actor 1 * 1000 + 1), ours, instantiation id 1001");
            Check(DroneScript.Instantiated.Count == 1 && DroneScript.Instantiated[0] == "1001 by 1 [host (String), 1 (Int32)]",
                "... OnPhotonInstantiate on it at once, from us, with its instantiation data: " + string.Join(" | ", DroneScript.Instantiated.ToArray()));
            GameObject crate = PhotonNetwork.InstantiateSceneObject("Crate", Vector3.zero, Quaternion.identity, 0, null);
            PhotonView crateView = crate == null ? null : crate.GetComponent<PhotonView>();
            Check(crateView != null && crateView.viewID == 1 && crateView.isSceneView && crateView.isMine && crateView.ownerId == 0,
                "InstantiateSceneObject: view 1, a scene view, ours as the master");
            view.RPC("Buffered", PhotonTargets.AllBuffered, 1);
            view.RPC("Buffered", PhotonTargets.AllBuffered, 2);
            view.RPC("Buffered", PhotonTargets.AllBuffered, 3);
            view.RPC("Buffered", PhotonTargets.OthersBuffered, 4);
            view.RPC("Shortcut", PhotonTargets.AllBuffered, "s");
            Check(Rpcs("1001 ") == "1001 Buffered(1) from 1 | 1001 Buffered(2) from 1 | 1001 Buffered(3) from 1 | 1001 Shortcut(s) from 1",
                "AllBuffered RPCs run here at once, OthersBuffered not: " + Rpcs("1001 "));
            Check(PhotonNetwork.RaiseEvent(50, "gone-later", true, new RaiseEventOptions { CachingOption = EventCaching.AddToRoomCache })
                && PhotonNetwork.RaiseEvent(51, "stays", true, new RaiseEventOptions { CachingOption = EventCaching.AddToRoomCache }),
                "two game events cached in the room (50, 51) are sent");
            Check(!PhotonNetwork.RaiseEvent(200, null, true, null), "RaiseEvent of PUN's own codes (200 and up) is refused by PUN");
            Console.WriteLine("HOST-READY");

            // The joiner: its objects, RPCs to every target, properties, view updates.
            Check(g.Until(() => g.Pun.Count("OnPhotonPlayerConnected") == 1, Command), "OnPhotonPlayerConnected for the joiner");
            PhotonPlayer joiner = PhotonPlayer.Find(2);
            Check(Args(g.Pun.Last("OnPhotonPlayerConnected"), joiner) && joiner != null && joiner.NickName == "Plugin Joiner" && !joiner.IsLocal && !joiner.IsMasterClient,
                "... actor 2, \"Plugin Joiner\", remote, not the master: " + g.Pun.Last("OnPhotonPlayerConnected"));
            Check(PhotonNetwork.playerList.Length == 2 && PhotonNetwork.otherPlayers.Length == 1 && PhotonNetwork.otherPlayers[0] == joiner, "playerList 2, otherPlayers the joiner");
            Check(g.Until(() => PhotonView.Find(2001) != null, Wait), "the joiner's drone appears: view 2001");
            PhotonView theirs = PhotonView.Find(2001);
            Check(theirs != null && !theirs.isMine && theirs.ownerId == 2 && theirs.owner == joiner && theirs.instantiationId == 2001,
                "... a remote copy: not ours, owner actor 2");
            Check(DroneScript.Instantiated.Contains("2001 by 2 [join (String), 2 (Int32)]"), "... OnPhotonInstantiate from actor 2 with its data: " + string.Join(" | ", DroneScript.Instantiated.ToArray()));
            Check(g.Until(() => DroneScript.Instantiated.Exists(s => s.StartsWith("2002 ", StringComparison.Ordinal)) && PhotonView.Find(2002) == null, LongWait),
                "the joiner's box (2002) appeared and went with its PhotonNetwork.Destroy (event 204)");
            Check(g.Until(() => HasRpcs("2001 Hello(j-master) from 2", "2001 Hello(j-player) from 2", "2001 Hello(j-others) from 2", "2001 Hello(j-all) from 2", "2001 Plain(5,five)"), LongWait),
                "the joiner's RPCs to MasterClient, to us as a player, to Others and to All arrived (and one without a PhotonMessageInfo): " + Rpcs("2001 "));
            Check(Rpcs("2001 Buffered") == "2001 Buffered(21) from 2" && Rpcs("2002 ") == "2002 Buffered(22) from 2",
                "... and its AllBuffered ones, each once: " + Rpcs("2001 Buffered") + " / " + Rpcs("2002 "));
            Check(DroneScript.WorstRpcClock < 2.0, "RPC timestamps are the room's clock: within 2 s of PhotonNetwork.time (worst " + DroneScript.WorstRpcClock.ToString("F3", CultureInfo.InvariantCulture) + " s)");
            Check(ClockSkews.ContainsKey(2), "the joiner's event 46, raised in its OnJoinedRoom, came ("
                + (ClockSkews.ContainsKey(2) ? ClockSkews[2] + " ms between its ServerTimestamp then and ours when it came" : "none") + ")");
            Check(g.Until(() => Equals(joiner.CustomProperties["ready"], true) && Equals(joiner.CustomProperties["lap"], 2) && Equals(PhotonNetwork.room.CustomProperties["seen"], 2), LongWait),
                "the joiner's properties reached us: ready = true, lap = 2 (its check-and-set), and the room's seen = 2 it set: " + Show(joiner.CustomProperties));
            Check(PlayerChanges(g, 2) == "ready=True (Boolean) | lap=1 (Int32) | lap=2 (Int32)",
                "OnPhotonPlayerPropertiesChanged for actor 2: ready, lap 1, lap 2 (the refused check-and-set raised nothing): " + PlayerChanges(g, 2));
            Check(RoomChanges(g, 1) == "seen=2 (Int32)", "OnPhotonCustomRoomPropertiesChanged for the joiner's room change: " + RoomChanges(g, 1));
            Check(g.Until(() => Events.Contains("42 [1 (Int32), 2 (Int32), 3 (Int32)] from 2") && Events.Contains("43 to-master from 2"), Wait),
                "the joiner's game events reached OnEventCall: 42 (int[], to All) and 43 (to MasterClient): " + string.Join(" | ", Events.ToArray()));
            Check(g.Until(() => HasRpcs("2001 Blob(12000," + Checksum(BlobData()) + ") from 2"), Wait), "the joiner's RPC with a 12000-byte argument arrived whole: " + Rpcs("2001 Blob"));
            Check(Events.FindAll(e => e.StartsWith("44 ", StringComparison.Ordinal)).Count == 5 && Events.Contains("45 send-options from 2"),
                "its five unreliable events 44 all came (nothing replaces game events; loopback loses none), and 45 sent with SendOptions");
            Check(g.Until(() => HasRpcs("2001 Via(j-via) from 2"), Wait), "the joiner's AllViaServer RPC arrived");
            string atVia = SeenAt.ContainsKey("j-via") ? SeenAt["j-via"] : "";
            Check(atVia.Contains("seen=2 (Int32)") && atVia.Contains("#2 {lap=2 (Int32), ready=True (Boolean)}"),
                "... after the property changes the joiner made before it (its player's, its check-and-set's, the room's), as Photon keeps one sender's operations in order: " + atVia);
            Check(g.Until(() => Equals(PhotonNetwork.player.CustomProperties["greeted"], true), Wait) && PlayerChanges(g, 1) == "greeted=True (Boolean)",
                "the joiner set one of OUR properties (greeted = true): applied here, with OnPhotonPlayerPropertiesChanged for us: " + PlayerChanges(g, 1));

            // Our answers, each to its target.
            view.RPC("Hello", PhotonTargets.All, "h-all");
            view.RPC("Hello", PhotonTargets.Others, "h-others");
            view.RPC("Hello", PhotonTargets.MasterClient, "h-master");
            view.RPC("Hello", joiner, "h-player");
            Check(HasRpcs("1001 Hello(h-all) from 1", "1001 Hello(h-master) from 1") && !HasRpcs("1001 Hello(h-others) from 1") && !HasRpcs("1001 Hello(h-player) from 1"),
                "our RPCs: All and MasterClient (we are the master) ran here, Others and the joiner's did not: " + Rpcs("1001 Hello"));
            int roomChanges = g.Pun.Count("OnPhotonCustomRoomPropertiesChanged");
            PhotonNetwork.room.SetCustomProperties(Table("round", 1));
            Check(g.Pun.Count("OnPhotonCustomRoomPropertiesChanged") == roomChanges + 1 && g.Pun.Last("OnPhotonCustomRoomPropertiesChanged").Shown == "{round=1 (Int32)}"
                && Equals(PhotonNetwork.room.CustomProperties["round"], 1),
                "Room.SetCustomProperties(round = 1): applied here and OnPhotonCustomRoomPropertiesChanged at once, as PUN does");
            PhotonNetwork.room.SetCustomProperties(Table("phase", "race"), Table("phase", "wait"));
            g.For(0.5);
            Check(PhotonNetwork.room.CustomProperties["phase"] == null && g.Pun.Count("OnPhotonCustomRoomPropertiesChanged") == roomChanges + 1,
                "a room check-and-set that does not hold (phase is not \"wait\"): nothing changes, no callback");
            PhotonNetwork.room.SetCustomProperties(Table("phase", "race"), Table("round", 1));
            Check(PhotonNetwork.room.CustomProperties["phase"] == null, "a room check-and-set changes nothing here before the server answers");
            Check(g.Until(() => Equals(PhotonNetwork.room.CustomProperties["phase"], "race"), Wait) && g.Pun.Last("OnPhotonCustomRoomPropertiesChanged").Shown == "{phase=race (String)}",
                "... one that holds (round is 1) comes back from the server: phase = race, with its callback");
            view.RPC("Via", PhotonTargets.AllViaServer, "h-via");
            view.RPC("Via", PhotonTargets.AllBufferedViaServer, "h-abvs");
            Check(!HasRpcs("1001 Via(h-via) from 1") && !HasRpcs("1001 Via(h-abvs) from 1"), "AllViaServer and AllBufferedViaServer do not run here at once");
            Check(g.Until(() => HasRpcs("1001 Via(h-via) from 1", "1001 Via(h-abvs) from 1"), Wait), "... but when the server sends them back to us too");
            view.RPC("Hello", PhotonTargets.Others, "h-done");

            // View updates: stop when the joiner announces its count, then announce ours.
            Check(g.Until(() => DroneScript.Announced.ContainsKey(2), Command), "the joiner announced how many updates of its drone it wrote");
            int theirWrites = DroneScript.Announced.ContainsKey(2) ? DroneScript.Announced[2] : 0;
            SerializationChecks("the joiner's drone 2001", theirs.GetComponent<DroneScript>(), theirWrites);
            DroneScript mine = drone.GetComponent<DroneScript>();
            view.synchronization = ViewSynchronization.Off;
            g.For(0.5);
            WriteRateChecks(mine);
            view.RPC("WrittenCount", PhotonTargets.Others, mine.Written);
            crate.GetComponent<CrateScript>().Phase = 3;
            // What later joiners will not find: game event 50 (out of the cache) and the room's seen (removed).
            Check(PhotonNetwork.RaiseEvent(50, null, true, new RaiseEventOptions { CachingOption = EventCaching.RemoveFromRoomCache }), "RemoveFromRoomCache of event 50 is sent");
            PhotonNetwork.room.SetCustomProperties(Table("seen", null, "laps", 5));
            Check(!PhotonNetwork.room.CustomProperties.ContainsKey("seen") && Equals(PhotonNetwork.room.CustomProperties["laps"], 5), "Room.SetCustomProperties(seen = null, laps = 5): seen removed, laps 5");
            Console.WriteLine("HOST-SAW-JOIN");

            // The late joiner.
            if (!g.Await("late-in", Command)) return;
            Check(g.Until(() => g.Pun.Count("OnPhotonPlayerConnected") == 2 && PhotonView.Find(3001) != null, Wait),
                "OnPhotonPlayerConnected for the late joiner (actor 3), and its drone 3001");
            Check(Args(g.Pun.Last("OnPhotonPlayerConnected"), PhotonPlayer.Find(3)) && PhotonNetwork.playerList.Length == 3, "... playerList 3");
            Check(g.Until(() => ClockSkews.ContainsKey(3), Wait), "the late joiner's event 46, raised in its OnJoinedRoom, came ("
                + (ClockSkews.ContainsKey(3) ? ClockSkews[3] + " ms between its ServerTimestamp then and ours when it came" : "none") + ")");
            Check(Equals(PhotonPlayer.Find(3).CustomProperties["car"], "red") && PhotonPlayer.Find(3).NickName == "Plugin Late",
                "... who came with its name and the car = red it set before joining: " + Show(PhotonPlayer.Find(3).CustomProperties));
            Check(PhotonNetwork.RaiseEvent(60, "group-7", true, new RaiseEventOptions { InterestGroup = 7 }) && PhotonNetwork.RaiseEvent(61, "all", true, null),
                "game event 60 to interest group 7, then 61 to the others, are sent");
            Console.WriteLine("HOST-SAW-LATE");

            // The master client moves to the joiner, and our MasterClient RPC goes there.
            if (!g.Await("master", Command)) return;
            Check(PhotonNetwork.SetMasterClient(joiner), "SetMasterClient(the joiner) is sent (check-and-set of key 248)");
            Check(PhotonNetwork.isMasterClient, "... and nothing changes here before the server answers");
            Check(g.Until(() => g.Pun.Count("OnMasterClientSwitched") == 1, Wait) && Args(g.Pun.Last("OnMasterClientSwitched"), joiner),
                "OnMasterClientSwitched(the joiner): " + g.Pun.Last("OnMasterClientSwitched"));
            Check(!PhotonNetwork.isMasterClient && PhotonNetwork.masterClient == joiner && joiner.IsMasterClient, "... the joiner is masterClient now, we are not");
            Check(crateView.ownerId == 2 && !crateView.isMine, "... and the scene crate follows the master: owner 2, not ours");
            view.RPC("Hello", PhotonTargets.MasterClient, "to-new-master");
            Check(!HasRpcs("1001 Hello(to-new-master) from 1"), "an RPC to MasterClient no longer runs here");
            Console.WriteLine("HOST-MASTER-MOVED");

            if (!g.Await("late-objects-gone", Command)) return;
            Check(g.Until(() => PhotonView.Find(3001) == null, Wait), "the new master's DestroyPlayerObjects(late joiner) removed its drone 3001 here (event 207)");
            Check(PhotonView.Find(1001) != null && PhotonView.Find(2001) != null, "... and nothing else");
            Console.WriteLine("HOST-LATE-GONE");

            // The joiner (the master) leaves: the master comes back to us, its objects go.
            if (!g.Await("join-left", Command)) return;
            Check(g.Until(() => g.Pun.Count("OnPhotonPlayerDisconnected") == 1, Wait) && Args(g.Pun.Last("OnPhotonPlayerDisconnected"), joiner),
                "OnPhotonPlayerDisconnected(the joiner)");
            Check(g.Pun.Count("OnMasterClientSwitched") == 2 && Args(g.Pun.Last("OnMasterClientSwitched"), PhotonNetwork.player)
                && g.Pun.LastIndexOf("OnMasterClientSwitched") < g.Pun.LastIndexOf("OnPhotonPlayerDisconnected"),
                "... after OnMasterClientSwitched(us): the Leave event named the new master (203), as PUN handles it: " + g.Pun.Last("OnMasterClientSwitched"));
            Check(PhotonNetwork.isMasterClient && crateView.isMine && crateView.ownerId == 1, "we are the master again, and the crate is ours");
            Check(PhotonView.Find(2001) == null && PhotonNetwork.playerList.Length == 2, "the leaver's drone is gone (the room cleans up after leavers), 2 players");
            Check(g.Until(() => PhotonPlayer.Find(3) != null && PhotonPlayer.Find(3).NickName == "Plugin Late Again", Wait),
                "the late joiner's new PhotonNetwork.playerName reached us (player property 255): " + (PhotonPlayer.Find(3) == null ? "gone" : PhotonPlayer.Find(3).NickName));
            Console.WriteLine("HOST-JOIN-LEFT");

            // The door: closed, then open for the stranger.
            if (!g.Await("close-door", Command)) return;
            PhotonNetwork.room.IsOpen = false;
            Check(!PhotonNetwork.room.IsOpen, "Room.IsOpen = false applies here at once");
            Console.WriteLine("HOST-DOOR-CLOSED");
            if (!g.Await("open-door", Command)) return;
            PhotonNetwork.room.IsOpen = true;
            PhotonNetwork.room.MaxPlayers = 4;
            PhotonNetwork.room.IsVisible = false;
            Check(PhotonNetwork.room.IsOpen && PhotonNetwork.room.MaxPlayers == 4 && !PhotonNetwork.room.IsVisible,
                "Room.IsOpen = true, Room.MaxPlayers = 4 and Room.IsVisible = false apply here at once");
            Console.WriteLine("HOST-DOOR-OPEN");
            Check(g.Until(() => g.Pun.Count("OnPhotonPlayerConnected") == 3, Command) && Args(g.Pun.Last("OnPhotonPlayerConnected"), PhotonPlayer.Find(4)),
                "OnPhotonPlayerConnected for the stranger (actor 4: numbers are never reused)");
            if (!g.Await("kick", Command)) return;
            Check(PhotonNetwork.CloseConnection(PhotonPlayer.Find(4)), "CloseConnection(the stranger) as the master is sent (event 203)");
            Check(g.Until(() => g.Pun.Count("OnPhotonPlayerDisconnected") == 2, Wait) && ((PhotonPlayer)g.Pun.Last("OnPhotonPlayerDisconnected").Args[0]).ID == 4,
                "... and it leaves: OnPhotonPlayerDisconnected(actor 4)");
            PhotonNetwork.room.IsVisible = true;
            Console.WriteLine("HOST-KICKED");

            // We close the room.
            if (!g.Await("close", Command)) return;
            Check(PhotonNetwork.LeaveRoom(), "LeaveRoom is sent");
            Check(g.Until(() => g.Pun.Count("OnLeftRoom") == 1, Wait) && PhotonNetwork.room == null && !PhotonNetwork.inRoom, "... OnLeftRoom, no room");
            Check(g.Until(() => g.Pun.Count("OnJoinedLobby") == 2, Wait) && PhotonNetwork.Server == ServerConnection.MasterServer && PhotonNetwork.connected,
                "... back on the master and in the lobby again: OnJoinedLobby");
            Check(drone == null && crate == null, "... and our objects went with the room");
            Check(g.Pun.Count("OnDisconnectedFromPhoton") == 0 && g.Pun.Count("OnConnectionFail") == 0, "... no OnDisconnectedFromPhoton or OnConnectionFail (we left on purpose)");
            OnlyPatchedBodies("the whole game");
            NoErrorsButExpected("Operation failed: OperationResponse 252");
        }

        // ---- join ----------------------------------------------------------------------------

        private static void Join()
        {
            Game g = game = Game.Start(Env("PROPWASH_TEST_GAME"), ServerSettings.HostingOption.PhotonCloud, true,
                "[Network]", "Coordinator = " + Env("PROPWASH_TEST_COORDINATOR"),
                "[Identity]", "Offline = true", "OfflineName = Plugin Joiner", "SyncPlayerState = false",
                "[Player]", "NameOverride = Plugin Joiner",
                "[Lobby]", "MapIdProperty = map", "TrackIdProperty = track", "LapsProperty = laps", "RefreshSeconds = 2",
                "[Rates]", "SendHz = 30");
            g.LoadPlugin();
            Loaded(g);
            PhotonNetwork.playerName = "Plugin Joiner";
            Check(PhotonNetwork.ConnectUsingSettings("1.0") && g.Until(() => g.Pun.Count("OnJoinedLobby") == 1, Wait), "connected, in the lobby: OnJoinedLobby");

            // The room list.
            RoomInfo listed = null;
            Check(g.Until(() => (listed = Listed(RoomName)) != null, LongWait), "GetRoomList() after OnReceivedRoomListUpdate lists \"" + RoomName + "\"");
            if (listed != null)
            {
                Check(listed.PlayerCount == 1 && listed.IsOpen && listed.IsVisible && !listed.removedFromList, "... 1 player, open, visible: " + listed);
                Check(Equals(listed.CustomProperties["map"], "MP-Plugin") && Equals(listed.CustomProperties["laps"], 3), "... with the properties listed for the lobby: " + Show(listed.CustomProperties));
                Check(Equals(listed.CustomProperties["mode"], "race"),
                    "... every one the game listed with CustomRoomPropertiesForLobby (map, laps and mode): " + Show(listed.CustomProperties));
                Check(listed.MaxPlayers == 3, "... MaxPlayers 3, the room's own (as Photon lists it): " + listed.MaxPlayers);
            }

            // JoinRandomRoom: a miss, then the host's room by its map and laps.
            Check(PhotonNetwork.JoinRandomRoom(Table("map", "MP-Nowhere"), 0), "JoinRandomRoom(map = MP-Nowhere) is sent");
            Check(g.Until(() => g.Pun.Count("OnPhotonRandomJoinFailed") == 1, LongWait)
                && CodeAndMsg(g.Pun.Last("OnPhotonRandomJoinFailed"), 32760, "propwash: 1 room(s) listed for " + GameVersion + ", none with a free seat matching the expected map=MP-Nowhere"),
                "... OnPhotonRandomJoinFailed(object[] { (short)32760, \"propwash: 1 room(s) listed ...\" }): " + g.Pun.Last("OnPhotonRandomJoinFailed"));
            Check(PhotonNetwork.insideLobby && PhotonNetwork.Server == ServerConnection.MasterServer, "... still in the lobby on the master");
            TellClockOnJoin();
            Check(PhotonNetwork.JoinRandomRoom(Table("map", "MP-Plugin", "laps", 3, "mode", "race"), 3), "JoinRandomRoom(map = MP-Plugin, laps = 3, mode = race; MaxPlayers 3) is sent");
            Check(g.Until(() => g.Pun.Count("OnJoinedRoom") == 1, LongWait), "... and joins the host's room: OnJoinedRoom");
            Check(g.Pun.Count("OnCreatedRoom") == 0 && g.Pun.Count("OnPhotonRandomJoinFailed") == 1 && g.Pun.Count("OnLeftLobby") == 1, "... no OnCreatedRoom, no second failure; OnLeftLobby on the way");
            InRoomAsJoiner(g, 2);
            PhotonPlayer host = PhotonPlayer.Find(1);
            Check(g.Until(() => PhotonView.Find(1001) != null && PhotonView.Find(1) != null, Wait), "the host's drone (1001) and scene crate (1) are here");
            PhotonView hostDrone = PhotonView.Find(1001);
            Check(hostDrone != null && !hostDrone.isMine && hostDrone.owner == host, "... the drone a remote copy, owned by the host");
            Check(DroneScript.Instantiated.Count >= 2 && DroneScript.Instantiated[0] == "1001 by 1 [host (String), 1 (Int32)]" && DroneScript.Instantiated[1] == "1 by 1 null",
                "... instantiated from the room's cache in order, with their data: " + string.Join(" | ", DroneScript.Instantiated.ToArray()));
            Check(g.Until(() => Rpcs("1001 ").Split('|').Length >= 5, Wait), "the host's buffered RPCs arrive");
            g.For(0.3);
            Check(Rpcs("1001 ") == "1001 Buffered(1) from 1 | 1001 Buffered(2) from 1 | 1001 Buffered(3) from 1 | 1001 Buffered(4) from 1 | 1001 Shortcut(s) from 1",
                "... all five (AllBuffered, OthersBuffered, the RpcList shortcut), each once, in order: " + Rpcs("1001 "));
            Check(!Logged("Debug.LogWarning: Received RPC"), "... none before its view existed");
            g.For(0.2);
            Check(string.Join(" | ", Events.ToArray()) == "50 gone-later from 1 | 51 stays from 1", "the host's cached game events reached OnEventCall once each, in order: " + string.Join(" | ", Events.ToArray()));
            PhotonNetwork.SetInterestGroups(null, new byte[] { 7 });

            // Our objects: a drone, and a box destroyed again (its cached instantiation and RPCs go with it).
            GameObject drone = PhotonNetwork.Instantiate("Drone", new Vector3(1f, 1f, 1f), Quaternion.identity, 0, new object[] { "join", 2 });
            PhotonView view = drone.GetComponent<PhotonView>();
            Check(view.viewID == 2001 && view.isMine && view.owner == PhotonNetwork.player, "Instantiate: view 2001 (actor 2 * 1000 + 1), ours");
            view.RPC("Buffered", PhotonTargets.AllBuffered, 21);
            GameObject box = PhotonNetwork.Instantiate("Box", Vector3.zero, Quaternion.identity, 0);
            Check(box.GetComponent<PhotonView>().viewID == 2002, "a box: view 2002");
            box.GetComponent<PhotonView>().RPC("Buffered", PhotonTargets.AllBuffered, 22);
            g.For(0.2);
            PhotonNetwork.Destroy(box);
            Check(box == null && PhotonView.Find(2002) == null, "PhotonNetwork.Destroy(box): gone here at once");

            // RPCs to every target.
            view.RPC("Hello", PhotonTargets.MasterClient, "j-master");
            view.RPC("Hello", host, "j-player");
            view.RPC("Hello", PhotonTargets.Others, "j-others");
            view.RPC("Hello", PhotonTargets.All, "j-all");
            view.RPC("Plain", PhotonTargets.Others, 5, "five");
            Check(HasRpcs("2001 Hello(j-all) from 2") && !HasRpcs("2001 Hello(j-master) from 2") && !HasRpcs("2001 Hello(j-others) from 2") && !HasRpcs("2001 Hello(j-player) from 2"),
                "our RPCs: All ran here, MasterClient (not us), Others and the host's did not: " + Rpcs("2001 Hello"));

            // Properties: plain, a refused check-and-set, one that holds, a room property.
            int changes = g.Pun.Count("OnPhotonPlayerPropertiesChanged");
            PhotonNetwork.player.SetCustomProperties(Table("ready", true));
            Check(g.Pun.Count("OnPhotonPlayerPropertiesChanged") == changes + 1 && Equals(PhotonNetwork.player.CustomProperties["ready"], true),
                "Player.SetCustomProperties(ready = true): applied here with its callback at once");
            PhotonNetwork.player.SetCustomProperties(Table("lap", 2), Table("lap", 1));
            g.For(0.5);
            Check(PhotonNetwork.player.CustomProperties["lap"] == null && g.Pun.Count("OnPhotonPlayerPropertiesChanged") == changes + 1,
                "a check-and-set that does not hold (lap is not 1): nothing changes, no callback");
            Check(Logged("Debug.LogError: Operation failed: OperationResponse 252"), "... PUN logs the SetProperties error response");
            PhotonNetwork.player.SetCustomProperties(Table("lap", 1));
            PhotonNetwork.player.SetCustomProperties(Table("lap", 2), Table("lap", 1));
            Check(Equals(PhotonNetwork.player.CustomProperties["lap"], 1), "a check-and-set changes nothing here before the server answers");
            Check(g.Until(() => Equals(PhotonNetwork.player.CustomProperties["lap"], 2), Wait), "... one that holds comes back from the server: lap = 2");
            Check(PlayerChanges(g, 2) == "ready=True (Boolean) | lap=1 (Int32) | lap=2 (Int32)", "OnPhotonPlayerPropertiesChanged for us: ready, lap 1, then lap 2 from the server: " + PlayerChanges(g, 2));
            PhotonNetwork.room.SetCustomProperties(Table("seen", 2));
            PhotonPlayer.Find(1).SetCustomProperties(Table("greeted", true));
            Check(Equals(host.CustomProperties["greeted"], true), "the host's property set by us applies here at once, as PUN does for any player");

            // Game events, a large RPC and one via the server.
            Check(PhotonNetwork.RaiseEvent(42, new[] { 1, 2, 3 }, true, new RaiseEventOptions { Receivers = ReceiverGroup.All })
                && PhotonNetwork.RaiseEvent(43, "to-master", true, new RaiseEventOptions { Receivers = ReceiverGroup.MasterClient }),
                "RaiseEvent 42 (int[]) to All and 43 to MasterClient are sent");
            Check(g.Until(() => Events.Contains("42 [1 (Int32), 2 (Int32), 3 (Int32)] from 2"), Wait) && !Events.Contains("43 to-master from 2"),
                "... 42 comes back to us from the server (Receivers All), 43 does not (the host is the master)");
            for (int n = 1; n <= 5; n++) PhotonNetwork.RaiseEvent(44, n, false, null);
            Check(PhotonNetwork.RaiseEvent(45, "send-options", new RaiseEventOptions(), SendOptions.SendUnreliable), "five unreliable events 44 and one with Photon's SendOptions (45) are sent");
            int ping = PhotonNetwork.GetPing();
            Check(PhotonPeer.OriginalCallsOf("get_RoundTripTime") == 0 && ping >= 0 && ping < 100,
                "PhotonNetwork.GetPing() is the room link's round trip on loopback (< 100 ms), not the unconnected PhotonPeer's: " + ping + " ms");
            view.RPC("Blob", PhotonTargets.Others, (object)BlobData());
            view.RPC("Via", PhotonTargets.AllViaServer, "j-via");
            Check(!HasRpcs("2001 Via(j-via) from 2") && g.Until(() => HasRpcs("2001 Via(j-via) from 2"), Wait), "our AllViaServer RPC runs here when the server sends it back");

            // The host's answers.
            Check(g.Until(() => HasRpcs("1001 Hello(h-all) from 1", "1001 Hello(h-others) from 1", "1001 Hello(h-player) from 1", "1001 Hello(h-done) from 1"), Command),
                "the host's RPCs to All, Others and to us as a player arrived");
            Check(!HasRpcs("1001 Hello(h-master) from 1"), "... its RPC to MasterClient (itself) did not: " + Rpcs("1001 Hello"));
            string atDone = SeenAt.ContainsKey("h-done") ? SeenAt["h-done"] : "";
            Check(atDone.Contains("round=1 (Int32)") && atDone.Contains("phase=race (String)"),
                "... and h-done ran after the room changes the host made before it (round = 1, its check-and-set phase = race): " + atDone);
            Check(g.Until(() => HasRpcs("1001 Via(h-via) from 1", "1001 Via(h-abvs) from 1"), Wait), "... and its AllViaServer and AllBufferedViaServer ones");
            Check(g.Until(() => Equals(PhotonNetwork.room.CustomProperties["round"], 1) && Equals(PhotonNetwork.room.CustomProperties["phase"], "race"), Wait),
                "the host's room properties: round = 1, phase = race (its check-and-set that held)");
            Check(RoomChanges(g, 1) == "seen=2 (Int32) | round=1 (Int32) | phase=race (String)",
                "OnPhotonCustomRoomPropertiesChanged: ours, then the host's two, its refused one raised nothing: " + RoomChanges(g, 2));
            Check(DroneScript.WorstRpcClock < 2.0, "RPC timestamps are the room's clock: within 2 s of PhotonNetwork.time (worst " + DroneScript.WorstRpcClock.ToString("F3", CultureInfo.InvariantCulture) + " s)");

            // View updates both ways for a while, then ours stop and we announce the count.
            DroneScript mine = drone.GetComponent<DroneScript>();
            DroneScript theirs = hostDrone.GetComponent<DroneScript>();
            Check(g.Until(() => mine.Written >= 45 && theirs.Read >= 10, LongWait), "view updates flow both ways (" + mine.Written + " written, " + theirs.Read + " read)");
            view.synchronization = ViewSynchronization.Off;
            g.For(0.5);
            WriteRateChecks(mine);
            view.RPC("WrittenCount", PhotonTargets.Others, mine.Written);
            Check(g.Until(() => DroneScript.Announced.ContainsKey(1), Wait), "the host announced its count");
            g.For(0.3);
            SerializationChecks("the host's drone 1001", theirs, DroneScript.Announced.ContainsKey(1) ? DroneScript.Announced[1] : 0);
            CrateScript crate = PhotonView.Find(1).GetComponent<CrateScript>();
            Check(g.Until(() => crate.Phase == 3, Wait) && crate.LabelKept && crate.Reads >= 2,
                "the scene crate's ReliableDeltaCompressed updates (event 206): phase 3, the unchanged label always filled in (" + crate.Reads + " reads)");
            Console.WriteLine("JOIN-IN");

            if (!g.Await("late-in", Command)) return;
            ClockAtJoinChecks();
            Check(g.Until(() => g.Pun.Count("OnPhotonPlayerConnected") == 1 && PhotonView.Find(3001) != null, Wait)
                && Args(g.Pun.Last("OnPhotonPlayerConnected"), PhotonPlayer.Find(3)), "OnPhotonPlayerConnected for the late joiner, and its drone 3001");
            Check(!PhotonNetwork.room.CustomProperties.ContainsKey("seen") && Equals(PhotonNetwork.room.CustomProperties["laps"], 5)
                && g.Pun.Last("OnPhotonCustomRoomPropertiesChanged").Shown == "{laps=5 (Int32), seen=null}",
                "the host's seen = null removed it here too, laps = 5: " + g.Pun.Last("OnPhotonCustomRoomPropertiesChanged"));
            Check(g.Until(() => Events.Contains("61 all from 1"), Wait) && Events.Contains("60 group-7 from 1"),
                "the host's event to interest group 7 reached us (we subscribed with SetInterestGroups), and the one to the others");
            Console.WriteLine("JOIN-SAW-LATE");

            if (!g.Await("master", Command)) return;
            Check(g.Until(() => g.Pun.Count("OnMasterClientSwitched") == 1, Wait) && Args(g.Pun.Last("OnMasterClientSwitched"), PhotonNetwork.player),
                "OnMasterClientSwitched(us): the host handed the room over");
            Check(PhotonNetwork.isMasterClient && PhotonNetwork.player.IsMasterClient && PhotonView.Find(1).isMine, "we are the master, and the scene crate is ours");
            Check(g.Until(() => HasRpcs("1001 Hello(to-new-master) from 1"), Wait), "the host's RPC to MasterClient comes to us now");
            Console.WriteLine("JOIN-MASTER");

            if (!g.Await("destroy-late", Command)) return;
            PhotonNetwork.DestroyPlayerObjects(PhotonPlayer.Find(3));
            Check(PhotonView.Find(3001) == null && PhotonView.Find(2001) != null && PhotonView.Find(1001) != null, "DestroyPlayerObjects(the late joiner) as the master: its drone goes here at once, nothing else");
            Console.WriteLine("JOIN-DESTROYED-LATE");

            if (!g.Await("leave", Command)) return;
            Check(PhotonNetwork.LeaveRoom(), "LeaveRoom is sent");
            Check(g.Until(() => g.Pun.Count("OnLeftRoom") == 1, Wait) && PhotonNetwork.room == null, "... OnLeftRoom");
            Check(drone == null && PhotonView.Find(1001) == null && PhotonView.Find(1) == null, "... every instantiated object, ours and the copies, went with the room");
            Check(g.Until(() => g.Pun.Count("OnJoinedLobby") == 2, Wait) && PhotonNetwork.Server == ServerConnection.MasterServer && PhotonNetwork.insideLobby,
                "... back on the master, in the lobby: OnJoinedLobby");
            Check(g.Pun.Count("OnDisconnectedFromPhoton") == 0 && g.Pun.Count("OnConnectionFail") == 0, "... no OnDisconnectedFromPhoton or OnConnectionFail");
            OnlyPatchedBodies("the whole game");
            NoErrorsButExpected("Operation failed: OperationResponse 252", "Operation failed: OperationResponse 225");
            Console.WriteLine("JOIN-LEFT");
        }

        /// <summary>The state a joiner finds itself in right after OnJoinedRoom (as actor <paramref name="me"/>).</summary>
        private static void InRoomAsJoiner(Game g, int me)
        {
            Check(PhotonNetwork.inRoom && PhotonNetwork.player.ID == me && !PhotonNetwork.isMasterClient && PhotonNetwork.masterClient != null && PhotonNetwork.masterClient.ID == 1,
                "inRoom as actor " + me + ", not the master; masterClient is actor 1: " + RoomState());
            PhotonPlayer host = PhotonPlayer.Find(1);
            Check(host != null && host.NickName == "Plugin Host" && !host.IsLocal && host.IsMasterClient, "the host is known by name: \"Plugin Host\", the master");
            Check(PhotonNetwork.room != null && PhotonNetwork.room.Name == RoomName && Equals(PhotonNetwork.room.CustomProperties["map"], "MP-Plugin"),
                "PhotonNetwork.room: the room's name and properties: " + (PhotonNetwork.room == null ? "null" : Show(PhotonNetwork.room.CustomProperties)));
            Check(PhotonNetwork.room != null && PhotonNetwork.room.MaxPlayers == 3, "... MaxPlayers 3 from the game server: " + (PhotonNetwork.room == null ? 0 : PhotonNetwork.room.MaxPlayers));
            PunCallbacks.Call joined = g.Pun.Last("OnJoinedRoom");
            Check(joined != null && joined.State.StartsWith("room " + RoomName + " as " + me + " master 1", StringComparison.Ordinal), "in OnJoinedRoom the room, our number and the master were known: " + (joined == null ? "" : joined.State));
            int at = g.Pun.LastIndexOf("OnJoinedRoom");
            int roomAt = g.Pun.Calls.FindIndex(c => c.Name == "OnPhotonCustomRoomPropertiesChanged" && c.Shown.Contains("map=MP-Plugin (String)"));
            Check(roomAt >= 0 && roomAt < at, "the game server's answer raised OnPhotonCustomRoomPropertiesChanged with the room's properties before OnJoinedRoom, as PUN does");
            int hostAt = g.Pun.Calls.FindIndex(c => c.Name == "OnPhotonPlayerPropertiesChanged" && c.Shown.StartsWith("[#1 'Plugin Host'", StringComparison.Ordinal));
            Check(hostAt >= 0 && hostAt < at, "... and OnPhotonPlayerPropertiesChanged for the host with its properties");
        }

        // ---- late ----------------------------------------------------------------------------

        private static void Late()
        {
            Game g = game = Game.Start(Env("PROPWASH_TEST_GAME"), ServerSettings.HostingOption.PhotonCloud, true,
                "[Network]", "Coordinator = " + Env("PROPWASH_TEST_COORDINATOR"),
                "[Identity]", "Offline = true", "OfflineName = Plugin Late", "SyncPlayerState = false",
                "[Player]", "NameOverride = Plugin Late",
                "[Rates]", "SendHz = 30");
            g.LoadPlugin();
            Loaded(g);
            PhotonNetwork.playerName = "Plugin Late";
            Check(PhotonNetwork.ConnectUsingSettings("1.0") && g.Until(() => g.Pun.Count("OnJoinedLobby") == 1 && Listed(RoomName) != null, LongWait),
                "connected, in the lobby, the room listed");
            Check(Show(Listed(RoomName).CustomProperties) == "{laps=5 (Int32), map=MP-Plugin (String), mode=race (String)}",
                "... with exactly the properties the host listed for the lobby, with their types (no [Lobby] keys set here): " + Show(Listed(RoomName)));
            PhotonNetwork.SetPlayerCustomProperties(Table("car", "red"));
            Check(Equals(PhotonNetwork.player.CustomProperties["car"], "red"), "SetPlayerCustomProperties outside a room keeps car = red for the join");
            PunCallbacks.PauseQueueOnJoin = true;
            TellClockOnJoin();
            Check(PhotonNetwork.JoinRoom(RoomName), "JoinRoom(\"" + RoomName + "\") by the listed name is sent");
            Check(g.Until(() => g.Pun.Count("OnJoinedRoom") == 1, LongWait), "... OnJoinedRoom");
            PunCallbacks.PauseQueueOnJoin = false;
            InRoomAsJoiner(g, 3);
            int paused = g.Pun.Calls.Count;
            g.For(0.5);
            Check(!PhotonNetwork.isMessageQueueRunning && DroneScript.Instantiated.Count == 0 && DroneScript.Rpcs.Count == 0 && g.Pun.Calls.Count == paused,
                "the queue paused in OnJoinedRoom (a level load): nothing more is dispatched, the room's cache waits");
            PhotonNetwork.isMessageQueueRunning = true;
            Check(PhotonNetwork.playerList.Length == 3 && PhotonPlayer.Find(2) != null && PhotonPlayer.Find(2).NickName == "Plugin Joiner", "playerList 3: the host, the joiner, us");
            PhotonPlayer joiner = PhotonPlayer.Find(2);
            Check(joiner != null && Equals(joiner.CustomProperties["ready"], true) && Equals(joiner.CustomProperties["lap"], 2), "the joiner's properties as they are now: " + (joiner == null ? "" : Show(joiner.CustomProperties)));
            Check(Show(PhotonNetwork.room.CustomProperties) == "{laps=5 (Int32), map=MP-Plugin (String), mode=race (String), phase=race (String), round=1 (Int32), track=CMP-42 (String)}",
                "the room's properties as they are now (seen removed, laps 5): " + Show(PhotonNetwork.room.CustomProperties));
            Check(PhotonPlayer.Find(1) != null && Equals(PhotonPlayer.Find(1).CustomProperties["greeted"], true), "the host's properties, the one the joiner set included");
            Check(g.Until(() => PhotonView.Find(1001) != null && PhotonView.Find(1) != null && PhotonView.Find(2001) != null, Wait), "the room's objects: 1001, the crate 1 and 2001");
            g.For(0.5);
            Check(string.Join(" | ", DroneScript.Instantiated.ToArray()) == "1001 by 1 [host (String), 1 (Int32)] | 1 by 1 null | 2001 by 2 [join (String), 2 (Int32)]",
                "... instantiated once each, in the order they were made; never the destroyed box 2002: " + string.Join(" | ", DroneScript.Instantiated.ToArray()));
            Check(PhotonView.Find(2001).owner == joiner && !PhotonView.Find(2001).isMine && PhotonView.Find(1001).ownerId == 1, "... owned by their makers");
            Check(Rpcs("") == "1001 Buffered(1) from 1 | 1001 Buffered(2) from 1 | 1001 Buffered(3) from 1 | 1001 Buffered(4) from 1 | 1001 Shortcut(s) from 1 | 2001 Buffered(21) from 2 | 1001 Via(h-abvs) from 1",
                "the buffered RPCs, each once, in order; none of the box's, none that was not buffered: " + Rpcs(""));
            Check(string.Join(" | ", Events.ToArray()) == "51 stays from 1", "of the cached game events only 51: 50 was removed from the cache: " + string.Join(" | ", Events.ToArray()));
            Check(!Logged("Debug.LogWarning: Received RPC"), "... none before its view existed");
            Check(g.Until(() => PhotonView.Find(1).GetComponent<CrateScript>().Phase == 3, Wait), "the crate's state reached us (phase 3: the host sends all of it again to a new player)");
            GameObject drone = PhotonNetwork.Instantiate("Drone", Vector3.zero, Quaternion.identity, 0, new object[] { "late", 3 });
            Check(drone.GetComponent<PhotonView>().viewID == 3001, "Instantiate: view 3001");
            Console.WriteLine("LATE-IN");

            if (!g.Await("master", Command)) return;
            Check(g.Until(() => g.Pun.Count("OnMasterClientSwitched") == 1, Wait) && Args(g.Pun.Last("OnMasterClientSwitched"), joiner), "OnMasterClientSwitched(the joiner)");
            Check(PhotonNetwork.masterClient == joiner && PhotonView.Find(1).ownerId == 2 && !PhotonView.Find(1).isMine, "masterClient is the joiner, the crate its");
            Check(Events.Contains("61 all from 1") && !Events.Contains("60 group-7 from 1"), "the host's event to interest group 7 never came (we did not subscribe), the next one did");
            Console.WriteLine("LATE-MASTER");

            if (!g.Await("late-objects-gone", Command)) return;
            Check(g.Until(() => PhotonView.Find(3001) == null, Wait) && drone == null, "the master's DestroyPlayerObjects(us) reached us too: our drone is gone (event 207)");
            PhotonNetwork.playerName = "Plugin Late Again";
            Check(PhotonNetwork.player.NickName == "Plugin Late Again", "PhotonNetwork.playerName in the room renames us (and sends it)");
            Console.WriteLine("LATE-GONE");

            if (!g.Await("join-left", Command)) return;
            ClockAtJoinChecks();
            Check(g.Until(() => g.Pun.Count("OnPhotonPlayerDisconnected") == 1, Wait) && Args(g.Pun.Last("OnPhotonPlayerDisconnected"), joiner), "OnPhotonPlayerDisconnected(the joiner)");
            Check(g.Pun.Count("OnMasterClientSwitched") == 2 && Args(g.Pun.Last("OnMasterClientSwitched"), PhotonPlayer.Find(1))
                && g.Pun.LastIndexOf("OnMasterClientSwitched") < g.Pun.LastIndexOf("OnPhotonPlayerDisconnected"), "... after OnMasterClientSwitched(the host)");
            Check(PhotonView.Find(2001) == null && PhotonView.Find(1).ownerId == 1, "the leaver's drone is gone, the crate the host's again");
            Console.WriteLine("LATE-JOIN-LEFT");

            if (!g.Await("door-closed", Command)) return;
            Check(g.Until(() => !PhotonNetwork.room.IsOpen, Wait), "the host's Room.IsOpen = false reached us (key 253 in PropertiesChanged)");
            Check(g.Pun.Last("OnPhotonCustomRoomPropertiesChanged") != null && g.Pun.Last("OnPhotonCustomRoomPropertiesChanged").Shown == "{253=False (Boolean)}",
                "... with its callback: " + g.Pun.Last("OnPhotonCustomRoomPropertiesChanged"));
            Console.WriteLine("LATE-DOOR-CLOSED");
            if (!g.Await("door-open", Command)) return;
            Check(g.Until(() => PhotonNetwork.room.IsOpen && PhotonNetwork.room.MaxPlayers == 4 && !PhotonNetwork.room.IsVisible, Wait),
                "... and IsOpen = true, MaxPlayers = 4 (a byte, key 255), IsVisible = false");
            Check(RoomChanges(g, 0).EndsWith("253=False (Boolean) | 253=True (Boolean) | 255=4 (Byte) | 254=False (Boolean)", StringComparison.Ordinal),
                "... each with its callback: " + RoomChanges(g, 0));
            Console.WriteLine("LATE-DOOR-OPEN");
            Check(g.Until(() => g.Pun.Count("OnPhotonPlayerConnected") == 1 && g.Pun.Count("OnPhotonPlayerDisconnected") == 2, Command),
                "the stranger came (OnPhotonPlayerConnected) and went (OnPhotonPlayerDisconnected)");

            // The host closes the room.
            Check(g.Until(() => g.Pun.Count("OnDisconnectedFromPhoton") == 1, Command), "the host closing the room: OnDisconnectedFromPhoton");
            Check(g.Pun.Count("OnConnectionFail") == 1 && Args(g.Pun.Last("OnConnectionFail"), DisconnectCause.DisconnectByServerLogic),
                "... after OnConnectionFail(DisconnectByServerLogic): " + g.Pun.Last("OnConnectionFail"));
            Check(g.Pun.IndexOf("OnConnectionFail") < g.Pun.IndexOf("OnLeftRoom") && g.Pun.IndexOf("OnLeftRoom") < g.Pun.IndexOf("OnDisconnectedFromPhoton"),
                "... OnConnectionFail, OnLeftRoom, OnDisconnectedFromPhoton in PUN's order");
            Check(!PhotonNetwork.connected && PhotonNetwork.room == null && PhotonView.Find(1001) == null, "... not connected, no room, its objects gone");
            Check(!HasRpcs("1001 Hello(to-new-master) from 1"), "the host's RPC to MasterClient never came here (we were not the master)");
            OnlyPatchedBodies("the whole game");
            NoErrorsButExpected();
        }

        // ---- stranger ------------------------------------------------------------------------

        private static void Stranger()
        {
            Game g = game = Game.Start(Env("PROPWASH_TEST_GAME"), ServerSettings.HostingOption.PhotonCloud, true,
                "[Network]", "Coordinator = " + Env("PROPWASH_TEST_COORDINATOR"),
                "[Identity]", "Offline = true", "OfflineName = Plugin Stranger", "SyncPlayerState = false",
                "[Player]", "NameOverride = Plugin Stranger",
                "[Lobby]", "MapIdProperty = map", "TrackIdProperty = track", "LapsProperty = laps", "RefreshSeconds = 2",
                "[Rates]", "SendHz = 30");
            g.LoadPlugin();
            Loaded(g);
            Check(PhotonNetwork.ConnectUsingSettings("1.0") && g.Until(() => g.Pun.Count("OnJoinedLobby") == 1 && Listed(RoomName) != null, LongWait),
                "connected, in the lobby, the room listed");

            // The room is full (MaxPlayers 3): listed so, refused on the game server, back to the master.
            RoomInfo full = Listed(RoomName);
            Check(full != null && full.PlayerCount == 3 && full.MaxPlayers == 3, "the lobby lists the room full: 3 of 3 players: " + Show(full));
            Check(full != null && full.IsOpen,
                "... with its own IsOpen (true: the door is open, the room is only full), as Photon lists it: " + Show(full));
            Check(PhotonNetwork.JoinRoom(RoomName), "JoinRoom of the full room is sent");
            Check(g.Until(() => g.Pun.Count("OnPhotonJoinRoomFailed") == 1, LongWait) && CodeIs(g.Pun.Last("OnPhotonJoinRoomFailed"), 32765),
                "... OnPhotonJoinRoomFailed(object[] { (short)32765 GameFull, message }): " + g.Pun.Last("OnPhotonJoinRoomFailed"));
            Check(g.Until(() => g.Pun.Count("OnJoinedLobby") == 2, Wait) && PhotonNetwork.Server == ServerConnection.MasterServer && PhotonNetwork.room == null,
                "... and PUN is back on the master, in the lobby");
            Check(g.Pun.Count("OnJoinedRoom") == 0, "... never in the room");
            Check(PhotonNetwork.JoinRandomRoom() && g.Until(() => g.Pun.Count("OnPhotonRandomJoinFailed") == 1 || g.Pun.Count("OnPhotonJoinRoomFailed") == 2, LongWait)
                && CodeIs(g.Pun.Last("OnPhotonRandomJoinFailed"), 32760),
                "JoinRandomRoom while the only room is full by its MaxPlayers: no match, OnPhotonRandomJoinFailed((short)32760), as Photon's matchmaking: "
                + g.Pun.Last("OnPhotonRandomJoinFailed") + " / " + g.Pun.Last("OnPhotonJoinRoomFailed"));
            g.Until(() => PhotonNetwork.insideLobby && PhotonNetwork.connectedAndReady, LongWait);
            int joinFails = g.Pun.Count("OnPhotonJoinRoomFailed"), randomFails = g.Pun.Count("OnPhotonRandomJoinFailed");
            Check(PhotonNetwork.JoinRoom("No Such Room"), "JoinRoom(\"No Such Room\") is sent");
            Check(g.Until(() => g.Pun.Count("OnPhotonJoinRoomFailed") == joinFails + 1, LongWait)
                && CodeAndMsg(g.Pun.Last("OnPhotonJoinRoomFailed"), 32758, "propwash: no listed room is called \"No Such Room\""),
                "... OnPhotonJoinRoomFailed(object[] { (short)32758 GameDoesNotExist, message }): " + g.Pun.Last("OnPhotonJoinRoomFailed"));
            Check(PhotonNetwork.JoinRandomRoom(Table("map", "MP-Elsewhere"), 0), "JoinRandomRoom(map = MP-Elsewhere) is sent");
            Check(g.Until(() => g.Pun.Count("OnPhotonRandomJoinFailed") == randomFails + 1, LongWait) && CodeIs(g.Pun.Last("OnPhotonRandomJoinFailed"), 32760),
                "... OnPhotonRandomJoinFailed(object[] { (short)32760, message }): " + g.Pun.Last("OnPhotonRandomJoinFailed"));
            Console.WriteLine("STRANGER-REFUSED");

            // The door is closed: refused as closed.
            if (!g.Await("closed", Command)) return;
            g.Until(() => PhotonNetwork.connectedAndReady, Wait);
            // The second list update from now was asked for after the door closed (the lobby asks every 2 s).
            int lists = g.Pun.Count("OnReceivedRoomListUpdate");
            Check(g.Until(() => g.Pun.Count("OnReceivedRoomListUpdate") >= lists + 2, LongWait), "the lobby's room list updates come (GameListUpdate, every RefreshSeconds)");
            Check(Listed(RoomName) != null && Listed(RoomName).PlayerCount == 2, "... and show the room with 2 players now the joiner left: " + Show(Listed(RoomName)));
            Check(Listed(RoomName) != null && !Listed(RoomName).IsOpen,
                "... closed (Room.IsOpen = false), as Photon lists it: " + Show(Listed(RoomName)));
            joinFails = g.Pun.Count("OnPhotonJoinRoomFailed");
            Check(PhotonNetwork.JoinRoom(RoomName), "JoinRoom of the closed room is sent");
            Check(g.Until(() => g.Pun.Count("OnPhotonJoinRoomFailed") == joinFails + 1, LongWait) && CodeIs(g.Pun.Last("OnPhotonJoinRoomFailed"), 32764),
                "... OnPhotonJoinRoomFailed(object[] { (short)32764 GameClosed, message }): " + g.Pun.Last("OnPhotonJoinRoomFailed"));
            g.Until(() => PhotonNetwork.insideLobby && PhotonNetwork.connectedAndReady, Wait);
            Console.WriteLine("STRANGER-CLOSED");

            // Open again but hidden: JoinOrCreateRoom by its name joins it, and finds only what it still holds.
            if (!g.Await("open", Command)) return;
            Check(g.Until(() => Listed(RoomName) == null, LongWait), "the hidden room (Room.IsVisible = false) left the lobby's list: " + Show(PhotonNetwork.GetRoomList()));
            Check(PhotonNetwork.JoinOrCreateRoom(RoomName, new RoomOptions { MaxPlayers = 3 }, null), "JoinOrCreateRoom of the reopened, hidden room by its name is sent");
            Check(g.Until(() => g.Pun.Count("OnJoinedRoom") == 1, LongWait), "... OnJoinedRoom");
            Check(g.Pun.Count("OnCreatedRoom") == 0, "... joined, not created: no OnCreatedRoom");
            Check(PhotonNetwork.player.ID == 4 && PhotonNetwork.playerList.Length == 3 && PhotonPlayer.Find(1) != null && PhotonPlayer.Find(3) != null && PhotonPlayer.Find(2) == null,
                "actor 4 with the host and the late joiner (actor 2 left): " + RoomState());
            Check(PhotonNetwork.masterClient == PhotonPlayer.Find(1), "the host is the master again");
            Check(PhotonPlayer.Find(3) != null && Equals(PhotonPlayer.Find(3).CustomProperties["car"], "red") && PhotonPlayer.Find(3).NickName == "Plugin Late Again",
                "the late joiner as it is now: renamed, car = red");
            g.For(1.0);
            Check(string.Join(" | ", DroneScript.Instantiated.ToArray()) == "1001 by 1 [host (String), 1 (Int32)] | 1 by 1 null",
                "only the host's drone and the crate were replayed: the leaver's went with it, the destroyed player's objects with DestroyPlayerObjects: "
                + string.Join(" | ", DroneScript.Instantiated.ToArray()));
            Check(Rpcs("") == "1001 Buffered(1) from 1 | 1001 Buffered(2) from 1 | 1001 Buffered(3) from 1 | 1001 Buffered(4) from 1 | 1001 Shortcut(s) from 1 | 1001 Via(h-abvs) from 1",
                "only the host's buffered RPCs, each once, in order: " + Rpcs(""));
            Check(string.Join(" | ", Events.ToArray()) == "51 stays from 1", "of the cached game events only 51: " + string.Join(" | ", Events.ToArray()));
            Check(Equals(PhotonNetwork.room.CustomProperties["phase"], "race") && PhotonNetwork.room.IsOpen, "the room's properties and its open door");
            Console.WriteLine("STRANGER-IN");

            // The master closes our connection: PUN leaves the room.
            if (!g.Await("kicked", Command)) return;
            Check(g.Until(() => g.Pun.Count("OnLeftRoom") == 1, Wait) && PhotonNetwork.room == null, "the master's CloseConnection: OnLeftRoom");
            Check(g.Until(() => PhotonNetwork.insideLobby && PhotonNetwork.connectedAndReady, Wait) && g.Pun.Count("OnConnectionFail") == 0, "... back in the lobby, no OnConnectionFail");
            Check(g.Until(() => Listed(RoomName) != null, LongWait), "the room, visible again, is back in the lobby's list: " + Show(Listed(RoomName)));
            Console.WriteLine("STRANGER-KICKED");

            // The host closed the room: the lobby drops it (GameListUpdate with the removed flag).
            if (!g.Await("host-gone", Command)) return;
            Check(g.Until(() => Listed(RoomName) == null, LongWait), "the room left the lobby's list: " + Show(PhotonNetwork.GetRoomList()));
            OnlyPatchedBodies("the whole game");
            NoErrorsButExpected("Operation failed: OperationResponse 226", "Operation failed: OperationResponse 225");
            Console.WriteLine("STRANGER-DONE");
        }

        // ---- victim and direct: a room joined by its address, a paused queue, a host gone silent --

        /// <summary>Hosts "Victim Room" (listed, for its own game version) and sends a Tick RPC every 0.25 s until the test kills it.</summary>
        private static void Victim()
        {
            Game g = game = Game.Start(Env("PROPWASH_TEST_GAME"), ServerSettings.HostingOption.SelfHosted, false,
                "[Network]", "Coordinator = " + Env("PROPWASH_TEST_COORDINATOR"), "BindAddress = 127.0.0.1", "GamePort = " + Env("PROPWASH_TEST_PORT"),
                "[Identity]", "Offline = true", "OfflineName = Plugin Victim", "SyncPlayerState = false");
            g.LoadPlugin();
            Loaded(g);
            PhotonNetwork.playerName = "Plugin Victim";
            Check(PhotonNetwork.ConnectUsingSettings("1.0") && g.Until(() => g.Pun.Count("OnConnectedToMaster") == 1, Wait), "connected: OnConnectedToMaster");
            Check(PhotonNetwork.JoinOrCreateRoom("Victim Room", new RoomOptions { MaxPlayers = 2 }, null) && g.Until(() => g.Pun.Count("OnJoinedRoom") == 1, LongWait),
                "JoinOrCreateRoom hosts \"Victim Room\"");
            GameObject drone = PhotonNetwork.Instantiate("Drone", Vector3.zero, Quaternion.identity, 0);
            PhotonView view = drone.GetComponent<PhotonView>();
            view.RPC("Buffered", PhotonTargets.AllBuffered, 7);
            Console.WriteLine("VICTIM-HOSTING");
            Check(g.Until(() => g.Pun.Count("OnPhotonPlayerConnected") >= 1, Command), "OnPhotonPlayerConnected for the direct joiner");
            Console.WriteLine("VICTIM-SAW-DIRECT");
            Stopwatch sw = Stopwatch.StartNew();
            int n = 0;
            while (sw.Elapsed.TotalSeconds < Command)
            {
                view.RPC("Tick", PhotonTargets.Others, ++n);
                g.For(0.25);
            }
        }

        /// <summary>Joins the victim's room by its address, pauses PUN's message queue for longer than the link's timeout, then outlives the victim.</summary>
        private static void Direct()
        {
            string address = "127.0.0.1:" + Env("PROPWASH_TEST_PORT");
            Game g = game = Game.Start(Env("PROPWASH_TEST_GAME"), ServerSettings.HostingOption.SelfHosted, false,
                "[Network]", "Coordinator = " + Env("PROPWASH_TEST_COORDINATOR"),
                "[Identity]", "Offline = true", "OfflineName = Plugin Direct", "SyncPlayerState = false");
            g.LoadPlugin();
            Loaded(g);
            PhotonNetwork.playerName = "Plugin Direct";
            Check(PhotonNetwork.ConnectUsingSettings("1.0") && g.Until(() => g.Pun.Count("OnConnectedToMaster") == 1, Wait), "connected: OnConnectedToMaster");

            // The only room of this game version has MaxPlayers 2: asking for 3 matches nothing on Photon.
            Check(PhotonNetwork.JoinRandomRoom(null, 3), "JoinRandomRoom(expectedMaxPlayers 3) is sent");
            g.Until(() => g.Pun.Count("OnPhotonRandomJoinFailed") == 1 || g.Pun.Count("OnJoinedRoom") == 1, LongWait);
            Check(g.Pun.Count("OnPhotonRandomJoinFailed") == 1 && CodeIs(g.Pun.Last("OnPhotonRandomJoinFailed"), 32760) && g.Pun.Count("OnJoinedRoom") == 0,
                "... no room has MaxPlayers 3 (key 255 of the expected properties): OnPhotonRandomJoinFailed((short)32760): " + g.Pun.Last("OnPhotonRandomJoinFailed") + " / " + RoomState());
            // Without a lobby, JoinRandomRoom goes to Network.JoinAddress; Photon's answer names the room it found.
            g.Set("Network", "Coordinator", "");
            g.Set("Network", "JoinAddress", address);
            Check(PhotonNetwork.JoinRandomRoom() && g.Until(() => g.Pun.Count("OnJoinedRoom") == 1, LongWait),
                "with no coordinator, JoinRandomRoom joins the room at Network.JoinAddress: OnJoinedRoom");
            KnownBug("random-room-name", PhotonNetwork.room != null && PhotonNetwork.room.Name == "Victim Room",
                "... and PhotonNetwork.room.Name is the host's room name, as the master's JoinRandomGame answer names it on Photon: \""
                + (PhotonNetwork.room == null ? "no room" : PhotonNetwork.room.Name) + "\"");
            Check(PhotonNetwork.LeaveRoom() && g.Until(() => g.Pun.Count("OnConnectedToMaster") == 2, Wait), "LeaveRoom: back on the master");
            DroneScript.Rpcs.Clear();
            DroneScript.Ticks.Clear();
            g.Set("Network", "JoinAddress", "");

            Check(PhotonNetwork.JoinRoom(address), "JoinRoom(\"" + address + "\"): a room name that is the host's address");
            Check(g.Until(() => g.Pun.Count("OnJoinedRoom") == 2, LongWait), "... OnJoinedRoom");
            Check(PhotonNetwork.player.ID == 3 && PhotonPlayer.Find(1) != null && PhotonPlayer.Find(1).NickName == "Plugin Victim" && PhotonNetwork.masterClient == PhotonPlayer.Find(1),
                "actor 3 (2 was our first visit), with the host \"Plugin Victim\" as the master: " + RoomState());
            Check(PhotonNetwork.room.Name == address, "PhotonNetwork.room.Name is the name we joined by, as on Photon: \"" + PhotonNetwork.room.Name + "\"");
            Check(g.Until(() => HasRpcs("1001 Buffered(7) from 1") && DroneScript.Ticks.Count >= 2, Wait), "the host's drone, its buffered RPC and its Ticks arrive");

            // A level load: PUN's queue paused for longer than the link's 5 s timeout.
            PhotonNetwork.isMessageQueueRunning = false;
            int rpcs = DroneScript.Rpcs.Count, calls = g.Pun.Calls.Count, ticks = DroneScript.Ticks.Count, left = g.Pun.Count("OnLeftRoom");
            g.For(6.0);
            Check(DroneScript.Rpcs.Count == rpcs && g.Pun.Calls.Count == calls, "with isMessageQueueRunning false nothing is dispatched for 6 s");
            PhotonNetwork.isMessageQueueRunning = true;
            Check(g.Until(() => DroneScript.Ticks.Count >= ticks + 20, Wait), "... resumed: the Ticks sent meanwhile arrive (" + (DroneScript.Ticks.Count - ticks) + " after the pause)");
            bool contiguous = true;
            for (int i = 1; i < DroneScript.Ticks.Count; i++) contiguous &= DroneScript.Ticks[i] == DroneScript.Ticks[i - 1] + 1;
            Check(contiguous, "... every one, in order: " + string.Join(",", DroneScript.Ticks.ConvertAll(t => t.ToString(CultureInfo.InvariantCulture)).ToArray()));
            Check(PhotonNetwork.inRoom && g.Pun.Count("OnConnectionFail") == 0 && g.Pun.Count("OnLeftRoom") == left, "... and we are still in the room: the pause did not time the link out");
            Console.WriteLine("DIRECT-PAUSED");

            // The host's process is killed: the link times out.
            if (!g.Await("victim-killed", Command)) return;
            Check(g.Until(() => g.Pun.Count("OnDisconnectedFromPhoton") == 1, LongWait), "the host gone silent: OnDisconnectedFromPhoton");
            Check(g.Pun.Count("OnConnectionFail") == 1 && Args(g.Pun.Last("OnConnectionFail"), DisconnectCause.DisconnectByClientTimeout),
                "... after OnConnectionFail(DisconnectByClientTimeout): " + g.Pun.Last("OnConnectionFail"));
            Check(g.Pun.IndexOf("OnConnectionFail") < g.Pun.LastIndexOf("OnLeftRoom") && g.Pun.LastIndexOf("OnLeftRoom") < g.Pun.IndexOf("OnDisconnectedFromPhoton"),
                "... OnConnectionFail, OnLeftRoom, OnDisconnectedFromPhoton in PUN's order");
            Check(!PhotonNetwork.connected && PhotonView.Find(1001) == null, "... not connected, the host's drone gone");
            OnlyPatchedBodies("the whole game");
            NoErrorsButExpected();
        }

        // ---- shared checks --------------------------------------------------------------------

        /// <summary>
        /// Awake went through: the library loaded and every PhotonPeer member is patched, as the
        /// log says. PhotonPeer's counts of its own bodies start again here: PUN's fallback thread
        /// may have called one before the patches were in (a peer made before the plugin loaded).
        /// </summary>
        private static void Loaded(Game g)
        {
            PhotonPeer.ResetOriginalCalls();
            Check(g.Plugin != null && g.Plugin.enabled, "Awake: the plugin is enabled");
            Check(Logged("Info propwash native library "), "Awake: the native library loaded");
            int patched = HarmonyLib.Harmony.PatchedMethods().Count;
            int lines = ManualLogSource.Recorded.FindAll(l => l.StartsWith("Info patch PhotonPeer.", StringComparison.Ordinal) && l.EndsWith(": patched", StringComparison.Ordinal)).Count;
            Check(patched >= 15 && patched == lines && Logged("Info " + patched + " PhotonPeer methods patched"),
                "Awake: every PhotonPeer member the plugin targets is patched (" + patched + ", RoundTripTime among them), one log line each, as the log's count says");
            Check(!ManualLogSource.Recorded.Exists(l => l.Contains("could not be patched") || l.Contains("not in this Photon3Unity3D")), "Awake: no member was skipped");
        }

        /// <summary>None of PhotonPeer's own bodies that talk to a server ran: the plugin answered them all.</summary>
        private static void OnlyPatchedBodies(string when)
        {
            string[] members =
            {
                "Connect", "Disconnect", "SendOperation", "OpCustom", "DispatchIncomingCommands", "SendOutgoingCommands", "SendAcksOnly", "Service",
                "EstablishEncryption", "get_PeerState", "get_ServerTimeInMilliSeconds", "FetchServerTimestamp", "get_RoundTripTime",
            };
            List<string> ran = new List<string>();
            foreach (string m in members)
            {
                if (PhotonPeer.OriginalCallsOf(m) > 0) ran.Add(m + "=" + PhotonPeer.OriginalCallsOf(m));
            }
            Check(ran.Count == 0, "no PhotonPeer body that would reach Photon ran (" + when + ")" + (ran.Count == 0 ? "" : ": " + string.Join(" ", ran.ToArray())));
        }

        /// <summary>Updates of a remote drone: as many as at most were written, at least a quarter of them, in order, each value consistent.</summary>
        private static void SerializationChecks(string what, DroneScript remote, int written)
        {
            Check(written > 0 && remote.Read > 0 && remote.Read <= written, "view updates of " + what + ": " + remote.Read + " read of " + written + " written (never more)");
            Check(remote.Read * 4 >= written, "... at least a quarter of them arrived (" + remote.Read + " of " + written + ")");
            Check(remote.InOrder && remote.PositionsMatch && remote.LastRead <= written, "... in order, each position the one written with its count (last " + remote.LastRead + ")");
            Check(Math.Abs(remote.transform.position.x - remote.LastRead) < 0.001f, "... the copy is where the last update put it: " + remote.transform.position);
        }

        /// <summary>Our own writes came at PUN's serialization rate: never faster than sendRateOnSerialize, not far slower.</summary>
        private static void WriteRateChecks(DroneScript mine)
        {
            double span = mine.LastWrite - mine.FirstWrite;
            int rate = PhotonNetwork.sendRateOnSerialize;
            Check(mine.Written >= 2 && mine.Written - 1 <= span * rate * 1.05 + 1, "our view wrote at most sendRateOnSerialize (" + rate + "/s): " + mine.Written + " in " + span.ToString("F2", CultureInfo.InvariantCulture) + " s");
            Check(mine.Written - 1 >= span * rate / 4, "... and at least a quarter of it");
        }

        /// <summary>
        /// No Debug.LogError in Unity's log and no error in the plugin's but those that start with
        /// one of <paramref name="expected"/> (PUN logs every error response as "Operation failed:
        /// ..."; a plugin line is matched with its level, "Error ...").
        /// </summary>
        private static void NoErrorsButExpected(params string[] expected)
        {
            List<string> errors = Debug.Logged().FindAll(l => (l.StartsWith("Debug.LogError: ", StringComparison.Ordinal) || l.StartsWith("Debug.LogException: ", StringComparison.Ordinal))
                && !Array.Exists(expected, e => l.StartsWith("Debug.LogError: " + e, StringComparison.Ordinal)));
            Check(errors.Count == 0, "no unexpected error in Unity's log" + (errors.Count == 0 ? "" : ": " + string.Join(" | ", errors.ToArray())));
            if (game != null && game.Plugin != null && !game.Plugin.enabled) return;
            List<string> plugin = ManualLogSource.Recorded.FindAll(l => (l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Fatal", StringComparison.Ordinal))
                && !Array.Exists(expected, e => l.StartsWith(e, StringComparison.Ordinal)));
            Check(plugin.Count == 0, "no unexpected error in the plugin's log" + (plugin.Count == 0 ? "" : ": " + string.Join(" | ", plugin.ToArray())));
        }

        // ---- helpers -----------------------------------------------------------------------------

        /// <summary>12000 bytes of a fixed pattern, for the large RPC.</summary>
        private static byte[] BlobData()
        {
            byte[] b = new byte[12000];
            for (int i = 0; i < b.Length; i++) b[i] = (byte)(i * 7 + i / 256);
            return b;
        }

        public static int Checksum(byte[] data)
        {
            int sum = 0;
            foreach (byte x in data) sum = unchecked(sum * 31 + x);
            return sum;
        }

        private static RoomInfo Listed(string name)
        {
            return Array.Find(PhotonNetwork.GetRoomList(), r => r.Name == name);
        }

        /// <summary>The RPCs run here whose line starts with <paramref name="prefix"/>, joined with " | ".</summary>
        private static string Rpcs(string prefix)
        {
            return string.Join(" | ", DroneScript.Rpcs.FindAll(r => r.StartsWith(prefix, StringComparison.Ordinal)).ToArray());
        }

        private static bool HasRpcs(params string[] lines)
        {
            return Array.TrueForAll(lines, l => DroneScript.Rpcs.Contains(l));
        }

        /// <summary>OnPhotonPlayerPropertiesChanged for one actor after the join (its own properties of the join excluded), shown and joined.</summary>
        private static string PlayerChanges(Game g, int actor)
        {
            List<string> s = new List<string>();
            foreach (PunCallbacks.Call c in g.Pun.Calls)
            {
                if (c.Name != "OnPhotonPlayerPropertiesChanged") continue;
                object[] pp = c.Args[0] as object[];
                if (pp == null || pp.Length != 2 || !(pp[0] is PhotonPlayer) || ((PhotonPlayer)pp[0]).ID != actor) continue;
                string props = c.Shown.Substring(c.Shown.IndexOf(", {", StringComparison.Ordinal) + 2).TrimEnd(']');
                if (props.Contains("255=")) continue;
                s.Add(props.Trim('{', '}'));
            }
            return string.Join(" | ", s.ToArray());
        }

        /// <summary>OnPhotonCustomRoomPropertiesChanged after the first <paramref name="skip"/>, their tables shown without braces.</summary>
        private static string RoomChanges(Game g, int skip)
        {
            List<string> s = new List<string>();
            List<PunCallbacks.Call> all = g.Pun.Calls.FindAll(c => c.Name == "OnPhotonCustomRoomPropertiesChanged");
            for (int i = skip; i < all.Count; i++) s.Add(all[i].Shown.Trim('{', '}'));
            return string.Join(" | ", s.ToArray());
        }

        private static bool Traced(string prefix)
        {
            return TraceIndex(prefix) >= 0;
        }

        private static int TraceIndex(string prefix)
        {
            return PhotonNetwork.Trace.FindIndex(t => t.StartsWith(prefix, StringComparison.Ordinal));
        }

        private static Hashtable Table(params object[] kv)
        {
            Hashtable t = new Hashtable();
            for (int i = 0; i + 1 < kv.Length; i += 2) t[kv[i]] = kv[i + 1];
            return t;
        }

        /// <summary>A value as the checks compare it: tables sorted "{k=v (Type)}", arrays "[v (Type), ...]", players "#n 'name'".</summary>
        public static string Show(object v)
        {
            if (v == null) return "null";
            PhotonPlayer p = v as PhotonPlayer;
            if (p != null) return "#" + p.ID + " '" + p.NickName + "'";
            RoomInfo r = v as RoomInfo;
            if (r != null) return r.Name + " " + r.PlayerCount + "/" + r.MaxPlayers + (r.IsOpen ? " open" : " closed") + " " + Show(r.CustomProperties);
            IDictionary d = v as IDictionary;
            if (d != null)
            {
                List<string> parts = new List<string>();
                foreach (DictionaryEntry e in d) parts.Add(Convert.ToString(e.Key, CultureInfo.InvariantCulture) + "=" + Typed(e.Value));
                parts.Sort(StringComparer.Ordinal);
                return "{" + string.Join(", ", parts.ToArray()) + "}";
            }
            Array a = v as Array;
            if (a != null)
            {
                List<string> parts = new List<string>();
                foreach (object o in a) parts.Add(o is RoomInfo || o is PhotonPlayer || o is IDictionary ? Show(o) : Typed(o));
                return "[" + string.Join(", ", parts.ToArray()) + "]";
            }
            return Convert.ToString(v, CultureInfo.InvariantCulture);
        }

        private static string Typed(object v)
        {
            if (v == null) return "null";
            if (v is IDictionary || v is PhotonPlayer || (v is Array && !(v is byte[]))) return Show(v);
            return Convert.ToString(v, CultureInfo.InvariantCulture) + " (" + v.GetType().Name + ")";
        }

        /// <summary>"room NAME as N master M players a,b,c", or "no room".</summary>
        public static string RoomState()
        {
            Room room = PhotonNetwork.room;
            if (room == null) return "no room";
            List<string> ids = new List<string>();
            foreach (PhotonPlayer p in PhotonNetwork.playerList) ids.Add(p.ID.ToString(CultureInfo.InvariantCulture));
            ids.Sort(StringComparer.Ordinal);
            PhotonPlayer m = PhotonNetwork.masterClient;
            return "room " + room.Name + " as " + PhotonNetwork.player.ID + " master " + (m == null ? "none" : m.ID.ToString(CultureInfo.InvariantCulture)) + " players " + string.Join(",", ids.ToArray());
        }

        private static bool Args(PunCallbacks.Call c, params object[] expected)
        {
            if (c == null || c.Args.Length != expected.Length) return false;
            for (int i = 0; i < expected.Length; i++)
            {
                if (!Equals(c.Args[i], expected[i])) return false;
            }
            return true;
        }

        /// <summary>A failure callback's object[] { short code, string message } with this code and message.</summary>
        private static bool CodeAndMsg(PunCallbacks.Call c, short code, string message)
        {
            object[] cm = c == null ? null : c.Args[0] as object[];
            return CodeIs(c, code) && cm.Length == 2 && Equals(cm[1], message);
        }

        /// <summary>A failure callback's object[] { short code, string message } with this code and some message.</summary>
        private static bool CodeIs(PunCallbacks.Call c, short code)
        {
            object[] cm = c == null ? null : c.Args[0] as object[];
            return cm != null && cm.Length == 2 && Equals(cm[0], code) && cm[1] is string && ((string)cm[1]).Length > 0;
        }

        private static bool Logged(string prefix)
        {
            return ManualLogSource.Recorded.Exists(l => l.StartsWith(prefix, StringComparison.Ordinal)) || Debug.Logged().Exists(l => l.StartsWith(prefix, StringComparison.Ordinal));
        }

        private static string Env(string name)
        {
            string v = Environment.GetEnvironmentVariable(name);
            if (string.IsNullOrEmpty(v)) throw new InvalidOperationException(name + " is not set (tests/plugin.rs sets it)");
            return v;
        }

        private static void Check(bool ok, string what)
        {
            if (ok)
            {
                passed++;
                Console.WriteLine("ok   - " + what);
            }
            else
            {
                Fail(what);
            }
        }

        /// <summary>A check of a bug that waits for its fix (see KnownBugs): failing it is expected, passing it fails the run.</summary>
        private static void KnownBug(string id, bool ok, string what)
        {
            if (ok)
            {
                Fail("known bug " + id + " no longer happens, make it a plain check: " + what);
                return;
            }
            known++;
            Console.WriteLine("KNOWN-BUG " + id + " - " + what);
        }

        public static void Fail(string what)
        {
            failed++;
            Console.WriteLine("FAIL - " + what);
        }
    }
}
