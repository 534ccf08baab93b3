// The plugin's behaviour test, one game per process: tests/plugin.rs runs
// this program under mono with the Propwash.Shim.dll that shim/build.sh
// built against the stubs, bound at run time to the FAKE UnityEngine,
// BepInEx and 0Harmony assemblies of this folder, PUN 2 faked in Photon.cs,
// and the real libpropwash. Each game writes BepInEx/config/propwash.cfg,
// adds the plugin to a GameObject (Awake: config, identity, Harmony hooks),
// and then plays Photon's part: it calls PhotonNetwork's hooked methods,
// runs Unity's frames (FixedUpdate, Update), and records the PUN callbacks
// the plugin raises on the scene's MonoBehaviours.
//
// Modes (argv[0]); the environment names the game folder (PROPWASH_TEST_GAME),
// the coordinator (PROPWASH_TEST_COORDINATOR), the host's port
// (PROPWASH_TEST_PORT) and the game version (PROPWASH_TEST_GAME_VERSION):
//   nolobby   no coordinator: JoinRandomRoom, JoinRoom and the room list fail or stay empty as they
//             should; JoinOrCreateRoom hosts unlisted; Disconnect in a room; a plugin reload
//   host      identity synced (prints IDENTITY-SYNCED), then CreateRoom, listed with a password (prints
//             READY); serves until stdin closes, answering the joiner's events and drone (HOST-ACK)
//   join      the room list, JoinRandomRoom by map, events, properties and drones with the host,
//             LeaveRoom; JoinRoom by the listed name (prints SEATED-AGAIN) until the host leaves
//   stranger  JoinRandomRoom with the wrong password, JoinRoom of an unlisted session id, then no password
// Every wait is bounded. Prints "plugin MODE: N passed, M failed" last and exits non-zero on a failure.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Reflection;
using System.Text;
using System.Threading;
using BepInEx.Logging;
using ExitGames.Client.Photon;
using HarmonyLib;
using Photon.Pun;
using Photon.Realtime;
using Propwash.Shim;
using UnityEngine;

namespace Propwash.PluginTest
{
    /// <summary>The game's PUN 2 callback target (MonoBehaviourPunCallbacks' methods): records every call.</summary>
    public sealed class PunCallbacks : MonoBehaviour
    {
        public sealed class Call
        {
            public string Name;
            public object[] Args;

            public override string ToString()
            {
                StringBuilder b = new StringBuilder(Name).Append('(');
                for (int i = 0; i < Args.Length; i++)
                {
                    if (i > 0) b.Append(", ");
                    object a = Args[i];
                    if (a is string) b.Append('"').Append(a).Append('"');
                    else if (a is ICollection && !(a is IDictionary)) b.Append('[').Append(((ICollection)a).Count).Append(" rooms]");
                    else if (a is IDictionary) b.Append(Program.Describe((IDictionary)a));
                    else b.Append(a);
                }
                return b.Append(')').ToString();
            }
        }

        public readonly List<Call> Calls = new List<Call>();
        /// <summary>PhotonNetwork.CurrentRoom's name and CustomProperties (Program.Describe) as each OnJoinedRoom saw them; "null" when there was none.</summary>
        public readonly List<string> RoomsAtJoin = new List<string>();

        private void Record(string name, params object[] args)
        {
            Call c = new Call { Name = name, Args = args };
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

        public void OnConnectedToMaster() { Record("OnConnectedToMaster"); }
        public void OnDisconnected(DisconnectCause cause) { Record("OnDisconnected", cause); }
        public void OnJoinedLobby() { Record("OnJoinedLobby"); }
        public void OnLeftLobby() { Record("OnLeftLobby"); }
        public void OnRoomListUpdate(List<RoomInfo> roomList) { Record("OnRoomListUpdate", roomList); }
        public void OnCreatedRoom() { Record("OnCreatedRoom"); }
        public void OnCreateRoomFailed(short returnCode, string message) { Record("OnCreateRoomFailed", returnCode, message); }
        public void OnJoinedRoom()
        {
            Room room = PhotonNetwork.CurrentRoom;
            RoomsAtJoin.Add(room == null ? "null" : room.Name + " " + Program.Describe(room.CustomProperties));
            Record("OnJoinedRoom");
        }
        public void OnJoinRoomFailed(short returnCode, string message) { Record("OnJoinRoomFailed", returnCode, message); }
        public void OnJoinRandomFailed(short returnCode, string message) { Record("OnJoinRandomFailed", returnCode, message); }
        public void OnLeftRoom() { Record("OnLeftRoom"); }
        public void OnRoomPropertiesUpdate(ExitGames.Client.Photon.Hashtable propertiesThatChanged) { Record("OnRoomPropertiesUpdate", propertiesThatChanged); }
    }

    /// <summary>One game: its folder, the plugin on a GameObject, the callback target.</summary>
    internal sealed class Game
    {
        public PropwashPlugin Plugin;
        public RoomBridge Room;
        public PunCallbacks Pun;
        private GameObject pluginObject;

        /// <summary>A game in <paramref name="root"/> (the folder holding BepInEx and DRL Simulator_Data) with this propwash.cfg.</summary>
        public static Game Start(string root, params string[] cfg)
        {
            string config = Path.Combine(Path.Combine(root, "BepInEx"), "config");
            string streaming = Path.Combine(Path.Combine(root, "DRL Simulator_Data"), "StreamingAssets");
            Directory.CreateDirectory(config);
            Directory.CreateDirectory(streaming);
            BepInEx.Paths.SetGameRoot(root);
            WriteConfig(cfg);
            Application.version = Program.GameVersion;
            Application.streamingAssetsPath = streaming;

            Game g = new Game();
            g.Pun = new GameObject("Game").AddComponent<PunCallbacks>();
            g.LoadPlugin();
            return g;
        }

        /// <summary>Adds the plugin as BepInEx does (Awake at once); again after <see cref="Unload"/>, a reload.</summary>
        public void LoadPlugin()
        {
            pluginObject = new GameObject("BepInEx_Manager");
            Plugin = pluginObject.AddComponent<PropwashPlugin>();
            Room = PropwashPlugin.Room;
        }

        public static void WriteConfig(params string[] cfg)
        {
            File.WriteAllText(Path.Combine(BepInEx.Paths.ConfigPath, "propwash.cfg"), string.Join("\n", cfg) + "\n");
        }

        /// <summary>One Unity frame (FixedUpdate, Update, PhotonHandler's view update), then a short sleep.</summary>
        public void Frame()
        {
            Engine.Frame();
            PhotonNetwork.ViewUpdateFromLoop();
            Thread.Sleep(3);
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

        /// <summary>Runs frames for <paramref name="seconds"/>.</summary>
        public void For(double seconds)
        {
            Until(() => false, seconds);
        }

        public void Unload()
        {
            UnityEngine.Object.Destroy(pluginObject);
        }

        /// <summary>A config value as the player would edit it in game (BepInEx's ConfigurationManager).</summary>
        public void Set(string section, string key, string value)
        {
            Plugin.Config.Bind(section, key, "", "").Value = value;
        }
    }

    internal static class Program
    {
        public static string GameVersion = "";
        private const string RoomName = "Plugin Race";
        private const string Password = "sesame";
        private const double Wait = 5.0, LongWait = 10.0;
        private static readonly Vector3 HostAt = new Vector3(-4f, 5f, 6f), JoinerAt = new Vector3(1.5f, 2.5f, -3.5f);

        private static int passed, failed;

        private static int Main(string[] args)
        {
            string mode = args.Length > 0 ? args[0] : "";
            try
            {
                GameVersion = Env("PROPWASH_TEST_GAME_VERSION");
                switch (mode)
                {
                    case "nolobby": NoLobby(); break;
                    case "host": Host(); break;
                    case "join": Join(); break;
                    case "stranger": Stranger(); break;
                    default: Fail("unknown mode \"" + mode + "\""); break;
                }
            }
            catch (Exception e)
            {
                Fail("unexpected exception: " + e);
            }
            Check(Engine.Exceptions == 0, "no exception escaped a Unity message");
            Console.WriteLine("plugin " + mode + ": " + passed + " passed, " + failed + " failed");
            return failed == 0 ? 0 : 1;
        }

        // ---- the games --------------------------------------------------------

        private static void NoLobby()
        {
            Game g = Game.Start(Env("PROPWASH_TEST_GAME"),
                "[Network]", "Coordinator = ", "JoinAddress = ", "BindAddress = 127.0.0.1", "GamePort = " + Env("PROPWASH_TEST_PORT"),
                "[Identity]", "Offline = true", "OfflineName = Plugin Solo");
            Loaded(g);
            // No player-state.json here: identity still starts, and the sync only warns.
            Check(g.Until(() => Logged("Info identity: offline, \"Plugin Solo\""), LongWait), "identity: offline as \"Plugin Solo\"");
            Check(g.Until(() => Logged("Warning player-state.json not updated"), Wait), "without a game folder the player-state.json sync warns, nothing throws");
            Connect(g);

            const string noLobby = "propwash: there is no lobby to find a room in; set Network.Coordinator, or Network.JoinAddress to a host's ip:port";
            Check(!PhotonNetwork.JoinRandomRoom(), "JoinRandomRoom without a coordinator returns false");
            g.For(0.3);
            Check(g.Pun.Count("OnJoinRandomFailed") == 1 && Args(g.Pun.Last("OnJoinRandomFailed"), (short)-1, noLobby),
                "... and raises OnJoinRandomFailed once, with the no-lobby message");

            Check(!PhotonNetwork.JoinRoom("Some Room"), "JoinRoom of a name that is no address returns false");
            Check(g.Until(() => g.Pun.Count("OnJoinRoomFailed") == 1, Wait)
                && Args(g.Pun.Last("OnJoinRoomFailed"), (short)-1, "propwash: room \"Some Room\" is not ip:port or a listed room, and Network.JoinAddress is empty"),
                "... and raises OnJoinRoomFailed saying why");

            Check(PhotonNetwork.JoinLobby(), "JoinLobby without a coordinator still enters the lobby");
            Check(g.Until(() => g.Pun.Count("OnRoomListUpdate") == 1, Wait) && g.Pun.Count("OnJoinedLobby") == 1 && PhotonNetwork.InLobby,
                "... OnJoinedLobby and InLobby");
            PunCallbacks.Call list = g.Pun.Last("OnRoomListUpdate");
            Check(list != null && list.Args[0] is List<RoomInfo> && ((List<RoomInfo>)list.Args[0]).Count == 0, "... and an empty List<RoomInfo> in OnRoomListUpdate");
            Check(Logged("Warning JoinLobby: Network.Coordinator is empty"), "... with one warning saying why it is empty");
            Check(PhotonNetwork.LeaveLobby() && g.Until(() => g.Pun.Count("OnLeftLobby") == 1, Wait) && !PhotonNetwork.InLobby, "LeaveLobby: OnLeftLobby, InLobby false");

            g.Set("Network", "Coordinator", "localhost:7000");
            Check(!PhotonNetwork.JoinRandomRoom(), "a coordinator given by host name is no lobby: JoinRandomRoom returns false");
            Check(g.Until(() => g.Pun.Count("OnJoinRandomFailed") == 2, Wait) && Args(g.Pun.Last("OnJoinRandomFailed"), (short)-1, noLobby),
                "... with the no-lobby message");
            Check(Logged("Warning Network.Coordinator \"localhost:7000\" is not ip:port"), "... and a warning naming the setting");

            // Outside a room the room calls are refused and Photon's own getters answer.
            Check(!PhotonNetwork.RaiseEvent(1, "x", RaiseEventOptions.Default, SendOptions.SendReliable), "RaiseEvent outside a room returns false");
            Check(!new Room("x", null).SetCustomProperties(Table("k", 1)), "Room.SetCustomProperties outside a room returns false");
            int originals = PhotonNetwork.Originals.Count;
            Check(double.IsNaN(PhotonNetwork.Time) && PhotonNetwork.Originals.Count == originals + 1, "PhotonNetwork.Time outside a room is left to Photon");
            Check(PhotonNetwork.Originals.Contains("RunViewUpdate"), "Photon's view update runs outside a room");
            PhotonNetwork.SerializationRate = 20;
            Check(PhotonNetwork.SerializationRate == 20 && g.Room.GameSerializationRate == 20, "set_SerializationRate is observed and still stored by Photon");

            // JoinOrCreateRoom without a listed room or an address hosts, unlisted.
            Check(PhotonNetwork.JoinOrCreateRoom("Solo Room", new RoomOptions { MaxPlayers = 4 }, TypedLobby.Default), "JoinOrCreateRoom with nothing to join hosts");
            Check(g.Until(() => g.Pun.Count("OnJoinedRoom") == 1, Wait) && g.Pun.Count("OnCreatedRoom") == 1 && PhotonNetwork.InRoom && PhotonNetwork.IsMasterClient,
                "... OnCreatedRoom, OnJoinedRoom, InRoom, IsMasterClient");
            // The coordinator is set, but to a host name: the log says that, not that it is empty.
            Check(Logged("Info hosting room \"Solo Room\"") && ManualLogSource.Recorded.Exists(l => l.Contains("not listed (Network.Coordinator \"localhost:7000\" is not ip:port)"))
                && !ManualLogSource.Recorded.Exists(l => l.Contains("hosting room") && l.Contains("Network.Coordinator is empty")),
                "... not listed, and the log says why: the coordinator is not ip:port");
            Check(PhotonNetwork.CurrentRoom != null && PhotonNetwork.CurrentRoom.Name == "Solo Room" && PhotonNetwork.CurrentRoom.CustomProperties.Count == 0
                && g.Pun.RoomsAtJoin.Count == 1 && g.Pun.RoomsAtJoin[0] == "Solo Room {}",
                "PhotonNetwork.CurrentRoom (hooked) is the room, from OnJoinedRoom on, with no properties");
            Check(g.Until(() => LibraryRoom(g) == "{}", Wait), "... and the library's room has none either (RoomPropertiesJson: " + LibraryRoom(g) + "): the plugin adds no property of its own");
            Check(!PhotonNetwork.CreateRoom("Another Room") && g.Until(() => g.Pun.Count("OnCreateRoomFailed") == 1, Wait)
                && Args(g.Pun.Last("OnCreateRoomFailed"), (short)-1, "propwash: already in a room"), "CreateRoom in a room: OnCreateRoomFailed, already in a room");
            Check(g.Until(() => !double.IsNaN(PhotonNetwork.Time), Wait), "PhotonNetwork.Time is the host's clock in an unlisted room");

            PhotonNetwork.Disconnect();
            Check(g.Until(() => g.Pun.Count("OnDisconnected") == 1, Wait) && g.Pun.Count("OnLeftRoom") == 1 && g.Pun.IndexOf("OnLeftRoom") < g.Pun.IndexOf("OnDisconnected"),
                "Disconnect in a room: OnLeftRoom, then OnDisconnected");
            Check(Args(g.Pun.Last("OnDisconnected"), DisconnectCause.DisconnectByClientLogic), "... with DisconnectCause.DisconnectByClientLogic: " + g.Pun.Last("OnDisconnected"));
            g.For(0.2);
            Check(g.Pun.Count("OnConnectedToMaster") == 1, "... and no OnConnectedToMaster (the game asked to disconnect)");
            Check(!PhotonNetwork.InRoom && !PhotonNetwork.IsConnected && PhotonNetwork.CurrentRoom == null, "... InRoom and IsConnected false, CurrentRoom Photon's again (null)");
            Unloaded(g);

            // A reload (e.g. ScriptEngine) in the same process: identity keeps its first options.
            Game.WriteConfig("[Identity]", "Offline = true", "OfflineName = Plugin Solo Again");
            g.LoadPlugin();
            Loaded(g);
            Check(Logged("Warning identity was already started in this process with other options"), "reloaded: identity says it keeps the first start's options");
            Check(PhotonNetwork.ConnectUsingSettings() && g.Until(() => g.Pun.Count("OnConnectedToMaster") == 2, Wait), "reloaded: the hooks answer again");
            Unloaded(g);
        }

        private static void Host()
        {
            string coordinator = Env("PROPWASH_TEST_COORDINATOR");
            Game g = Game.Start(Env("PROPWASH_TEST_GAME"),
                "[Network]", "Coordinator = " + coordinator, "RoomPassword = " + Password, "BindAddress = 127.0.0.1", "GamePort = " + Env("PROPWASH_TEST_PORT"),
                "[Identity]", "Offline = true", "OfflineName = Plugin Host",
                "[Lobby]", "MapIdProperty = map", "TrackIdProperty = track", "LapsProperty = laps",
                "[Sync]", "LocalDroneObject = HostDrone", "RemoteDroneObjectFormat = propwash-pilot-{0}");
            Loaded(g);
            Check(g.Until(() => Logged("Info player-state.json updated (steam-id, profile-name, profile-photo-url)"), LongWait),
                "identity: player-state.json synced from Update (steam-id, profile-name, profile-photo-url)");
            Check(Logged("Info identity: offline, \"Plugin Host\""), "identity: offline as \"Plugin Host\"");
            Console.WriteLine("IDENTITY-SYNCED");
            Connect(g);

            Drone("HostDrone", HostAt);
            GameObject theirs = Drone("propwash-pilot-2", new Vector3(0f, 0f, 0f));
            List<PlayerRecord> joined = new List<PlayerRecord>();
            List<ushort> left = new List<ushort>();
            List<EventData> events = new List<EventData>();
            List<KeyValuePair<ushort, IDictionary>> playerChanges = new List<KeyValuePair<ushort, IDictionary>>();
            g.Room.PlayerJoined += p => joined.Add(p);
            g.Room.PlayerLeft += (actor, why) => left.Add(actor);
            g.Room.PlayerPropertiesChanged += (actor, changes) => playerChanges.Add(new KeyValuePair<ushort, IDictionary>(actor, changes));
            PhotonNetwork.NetworkingClient.EventReceived += e => events.Add(e);

            RoomOptions options = new RoomOptions { MaxPlayers = 6, CustomRoomProperties = Table("map", "MP-Plugin", "track", "CMP-42", "laps", 3) };
            Check(PhotonNetwork.CreateRoom(RoomName, options, TypedLobby.Default), "CreateRoom (the hooked PhotonNetwork method) hosts");
            Check(g.Until(() => g.Pun.Count("OnJoinedRoom") == 1, Wait) && g.Pun.Count("OnCreatedRoom") == 1
                && g.Pun.IndexOf("OnCreatedRoom") < g.Pun.IndexOf("OnJoinedRoom"), "... OnCreatedRoom, then OnJoinedRoom");
            Check(PhotonNetwork.InRoom && PhotonNetwork.IsMasterClient && g.Room.LocalActor == 1, "... InRoom, IsMasterClient, actor 1");
            const string hostRoom = RoomName + " {laps=3 (Int32), map=MP-Plugin (String), track=CMP-42 (String)}";
            Check(g.Pun.RoomsAtJoin.Count == 1 && g.Pun.RoomsAtJoin[0] == hostRoom,
                "in OnJoinedRoom, PhotonNetwork.CurrentRoom is the room with CreateRoom's properties: " + string.Join(" | ", g.Pun.RoomsAtJoin.ToArray()));
            Check(PhotonNetwork.CurrentRoom.MaxPlayers == 6 && g.Room.RoomProperties != null && Describe(g.Room.RoomProperties) == Describe(PhotonNetwork.CurrentRoom.CustomProperties),
                "... MaxPlayers 6 (the pilot seats), and RoomBridge.RoomProperties holds the same");
            Check(joined.Count == 1 && joined[0].Actor == 1 && joined[0].Name == "Plugin Host"
                && new List<PlayerRecord>(g.Room.Players).Exists(p => p.Actor == 1 && p.Name == "Plugin Host"),
                "PlayerJoined for ourselves (actor 1, \"Plugin Host\"), and RoomBridge.Players holds us, as PUN's PlayerList does");
            Check(PhotonNetwork.LocalPlayer.SetCustomProperties(Table("car", 7)) && PhotonNetwork.LocalPlayer.SetCustomProperties(Table("car", 8, "skin", "red")),
                "the host's own Player.SetCustomProperties, twice in one frame, are sent");
            g.Frame();
            Check(Changes(playerChanges) == "1 {car=7 (Int32)} | 1 {car=8 (Int32), skin=red (String)}",
                "... and raise one PlayerPropertiesChanged per call for actor 1 in the next Update, in order, each with all its keys: " + Changes(playerChanges));
            PlayerRecord self = new List<PlayerRecord>(g.Room.Players).Find(p => p.Actor == 1);
            Check(self != null && Prop(self, "car") == "i:8", "... and our record in RoomBridge.Players holds them");
            Check(g.Until(() => !double.IsNaN(PhotonNetwork.Time) && PhotonNetwork.ServerTimestamp != int.MinValue, Wait), "PhotonNetwork.Time and ServerTimestamp are the host clock");
            Check(g.Until(() => Logged("Info the room is listed: session "), LongWait), "the room is listed at the coordinator");
            // Photon's CreateRoom takes CustomRoomProperties as the room's first state, with no callback.
            g.For(0.1);
            Check(g.Pun.Count("OnRoomPropertiesUpdate") == 0, "CreateRoom's CustomRoomProperties raise no OnRoomPropertiesUpdate on the host (" + g.Pun.Count("OnRoomPropertiesUpdate") + ")");
            Check(PhotonNetwork.CurrentRoom.CustomProperties.Count == 3, "... and CurrentRoom still holds them");
            const string createdRoom = "{\"laps\":\"i:3\",\"map\":\"s:MP-Plugin\",\"track\":\"s:CMP-42\"}";
            Check(g.Until(() => LibraryRoom(g) == createdRoom, Wait),
                "the library's room (RoomPropertiesJson) holds CreateRoom's three properties and nothing else: " + LibraryRoom(g));
            Console.WriteLine("ROOM-PROPERTIES created " + LibraryRoom(g));
            int runs = PhotonNetwork.Originals.FindAll(o => o == "RunViewUpdate").Count;
            g.For(0.1);
            Check(PhotonNetwork.Originals.FindAll(o => o == "RunViewUpdate").Count == runs, "Photon's view update is skipped in a room");
            Console.WriteLine("READY");

            // Serve until the test closes stdin (the joiners have run).
            ManualResetEvent closed = new ManualResetEvent(false);
            Thread stdin = new Thread(() =>
            {
                Console.In.ReadToEnd();
                closed.Set();
            });
            stdin.IsBackground = true;
            stdin.Start();
            bool acked = false, answered = false;
            Stopwatch serving = Stopwatch.StartNew();
            while (!closed.WaitOne(0) && serving.Elapsed.TotalSeconds < 60)
            {
                g.Frame();
                if (acked && !answered && events.Exists(e => e.Code == 44))
                {
                    // The joiner asks (event 44): two calls in one frame are two callbacks, here and there, as in PUN.
                    answered = true;
                    int updates = g.Pun.Count("OnRoomPropertiesUpdate");
                    Check(new Room(RoomName, null).SetCustomProperties(Table("round", 1)) && new Room(RoomName, null).SetCustomProperties(Table("round", 2, "phase", "go")),
                        "two Room.SetCustomProperties calls in one frame are sent");
                    g.Until(() => g.Pun.Count("OnRoomPropertiesUpdate") >= updates + 2, Wait);
                    g.For(0.1);
                    Check(RoomUpdates(g, updates) == "{round=1 (Int32)} | {phase=go (String), round=2 (Int32)}",
                        "... and raise one OnRoomPropertiesUpdate each on the host, in order, each with all its keys: " + RoomUpdates(g, updates));
                }
                if (acked || !joined.Exists(p => p.Actor == 2)) continue;
                EventData numbers = events.Find(e => e.Code == 42), text = events.Find(e => e.Code == 43);
                if (numbers == null || text == null || !Near(theirs.transform.position, JoinerAt)) continue;
                acked = true;
                Console.WriteLine("HOST-ACK");
                Check(numbers.Sender == 2 && numbers.CustomData is int[] && string.Join(",", (int[])numbers.CustomData) == "1,2,3",
                    "event 42 arrives in EventReceived as PUN 2 EventData: sender 2, int[] {1,2,3} through Photon's serializer");
                Check(text.Sender == 2 && (text.CustomData as string) == "hello", "event 43 arrives: sender 2, \"hello\"");
                Check(Near(theirs.transform.position, JoinerAt) && g.Room.RemotePilotCount == 1, "the joiner's drone moves propwash-pilot-2 to " + JoinerAt);
                // The host answers through the room: the joiner waits for this.
                int before = g.Pun.Count("OnRoomPropertiesUpdate");
                Check(new Room(RoomName, null).SetCustomProperties(Table("laps", 5, "seen", 2)), "Room.SetCustomProperties on the host is sent");
                g.Until(() => g.Pun.Count("OnRoomPropertiesUpdate") > before, Wait);
                g.For(0.1);
                Check(RoomUpdates(g, before) == "{laps=5 (Int32), seen=2 (Int32)}",
                    "... one SetCustomProperties of 2 keys raises one OnRoomPropertiesUpdate with both on the host: " + RoomUpdates(g, before));
                Check(Equals(PhotonNetwork.CurrentRoom.CustomProperties["laps"], 5) && Equals(PhotonNetwork.CurrentRoom.CustomProperties["seen"], 2),
                    "... and CurrentRoom.CustomProperties has them");
            }
            Check(closed.WaitOne(0), "the test closed stdin within 60 s");
            Check(acked, "the joiner's events and drone reached the host");
            Check(answered, "the joiner asked for the two-call change (event 44)");
            Check(joined.FindAll(p => p.Actor == 1).Count == 1, "PlayerJoined for ourselves was raised once");
            List<PlayerRecord> others = joined.FindAll(p => p.Actor != 1);
            Check(others.Count == 2 && others.TrueForAll(p => p.Name == "Plugin Joiner") && others[0].Actor == 2 && others[1].Actor == 3,
                "PlayerJoined: \"Plugin Joiner\" as actor 2, then again as actor 3 (the stranger was never seated); saw " + others.Count);
            Check(g.Until(() => left.Contains(2), Wait) && !left.Contains(3), "PlayerLeft for actor 2, who left; actor 3 is still seated");
            Check(!new List<PlayerRecord>(g.Room.Players).Exists(p => p.Actor == 2), "... and RoomBridge.Players no longer holds actor 2");
            List<PlayerRecord> seated = new List<PlayerRecord>(g.Room.Players);
            Check(seated.Count == 2 && seated.Exists(p => p.Actor == 1) && seated.Exists(p => p.Actor == 3), "RoomBridge.Players: us (actor 1) and actor 3");
            Check(playerChanges.Exists(c => c.Key == 2 && Equals(c.Value["ready"], true)), "PlayerPropertiesChanged: the joiner's ready = true reached us");
            List<KeyValuePair<ushort, IDictionary>> cars = playerChanges.FindAll(c => c.Key == 2 && c.Value.Contains("car"));
            Check(Changes(cars) == "2 {car=7 (Int32)} | 2 {car=8 (Int32), skin=red (String)}",
                "... and the joiner's two calls in one frame as two PlayerPropertiesChanged, in order, each with all its keys: " + Changes(cars));
            const string finalRoom = "{\"laps\":\"i:5\",\"map\":\"s:MP-Plugin\",\"phase\":\"s:go\",\"round\":\"i:2\",\"seen\":\"i:2\",\"track\":\"s:CMP-42\"}";
            Check(LibraryRoom(g) == finalRoom, "the library's room (RoomPropertiesJson) holds the game's properties and nothing else: " + LibraryRoom(g));
            Console.WriteLine("ROOM-PROPERTIES final " + LibraryRoom(g));

            Check(PhotonNetwork.LeaveRoom(), "LeaveRoom returns true");
            Check(g.Until(() => g.Pun.Count("OnLeftRoom") == 1, Wait) && !PhotonNetwork.InRoom && !PhotonNetwork.IsMasterClient,
                "... OnLeftRoom, InRoom and IsMasterClient false");
            Check(g.Until(() => g.Pun.Count("OnConnectedToMaster") == 2, Wait) && g.Pun.Calls.FindLastIndex(c => c.Name == "OnConnectedToMaster") > g.Pun.IndexOf("OnLeftRoom")
                && PhotonNetwork.IsConnected, "... then OnConnectedToMaster (back on the master server, as PUN 2), still connected");
            g.For(0.2);
            Check(g.Pun.Count("OnDisconnected") == 0 && g.Pun.Count("OnConnectedToMaster") == 2, "... and no OnDisconnected (we left on purpose), OnConnectedToMaster once");
            Check(PhotonNetwork.CurrentRoom == null && g.Room.RoomProperties == null && new List<PlayerRecord>(g.Room.Players).Count == 0,
                "... CurrentRoom Photon's again (null), RoomBridge.RoomProperties null, Players empty");
            Unloaded(g);
        }

        private static void Join()
        {
            Game g = Game.Start(Env("PROPWASH_TEST_GAME"),
                "[Network]", "Coordinator = " + Env("PROPWASH_TEST_COORDINATOR"), "RoomPassword = " + Password,
                "[Identity]", "Offline = true", "OfflineName = Plugin Joiner", "SyncPlayerState = false",
                "[Player]", "NameOverride = Plugin Joiner",
                "[Lobby]", "MapIdProperty = map", "TrackIdProperty = track", "LapsProperty = laps",
                "[Sync]", "LocalDroneObject = JoinerDrone", "RemoteDroneObjectFormat = propwash-pilot-{0}");
            Loaded(g);
            Connect(g);

            // PUN 2's room list.
            Check(PhotonNetwork.JoinLobby(), "JoinLobby returns true");
            RoomInfo listed = null;
            Check(g.Until(() => (listed = Listed(g, RoomName)) != null, Wait) && g.Pun.Count("OnJoinedLobby") == 1 && PhotonNetwork.InLobby,
                "OnJoinedLobby, then OnRoomListUpdate lists \"" + RoomName + "\" as a PUN 2 RoomInfo");
            if (listed != null)
            {
                IDictionary p = listed.CustomProperties;
                Check(listed.MaxPlayers == 6 && listed.PlayerCount == 1 && listed.IsOpen && listed.IsVisible && !listed.RemovedFromList,
                    "... MaxPlayers 6, PlayerCount 1, open and visible: " + listed);
                Check(Equals(p["map"], "MP-Plugin") && Equals(p["track"], "CMP-42") && Equals(p["laps"], 3),
                    "... the [Lobby] properties map, track and laps: " + Describe(p));
                Check(Equals(p["pw.has_password"], true) && Equals(p["pw.host"], "Plugin Host") && (p["pw.session_id"] as string ?? "").Length == 16,
                    "... pw.has_password true, pw.host \"Plugin Host\", a session id");
            }
            Check(PhotonNetwork.LeaveLobby() && g.Until(() => g.Pun.Count("OnLeftLobby") == 1, Wait) && !PhotonNetwork.InLobby, "LeaveLobby: OnLeftLobby, InLobby false");

            // JoinRandomRoom filtered by the map property.
            Check(PhotonNetwork.JoinRandomRoom(Table("map", "MP-Nowhere"), 0), "JoinRandomRoom for a map nobody hosts asks the lobby");
            Check(g.Until(() => g.Pun.Count("OnJoinRandomFailed") == 1, LongWait)
                && Args(g.Pun.Last("OnJoinRandomFailed"), (short)32760, "propwash: no open rooms for " + GameVersion),
                "... OnJoinRandomFailed(NoRandomMatchFound)");

            Drone("JoinerDrone", JoinerAt);
            GameObject theirs = Drone("propwash-pilot-1", new Vector3(0f, 0f, 0f));
            // PlayerJoined: who, and how many OnJoinedRoom had been raised by then.
            List<KeyValuePair<PlayerRecord, int>> joined = new List<KeyValuePair<PlayerRecord, int>>();
            List<KeyValuePair<ushort, IDictionary>> playerChanges = new List<KeyValuePair<ushort, IDictionary>>();
            g.Room.PlayerJoined += p => joined.Add(new KeyValuePair<PlayerRecord, int>(p, g.Pun.Count("OnJoinedRoom")));
            g.Room.PlayerPropertiesChanged += (actor, changes) => playerChanges.Add(new KeyValuePair<ushort, IDictionary>(actor, changes));
            Check(PhotonNetwork.JoinRandomRoom(Table("map", "MP-Plugin"), 0, MatchmakingMode.FillRoom, TypedLobby.Default, null),
                "JoinRandomRoom for the host's map (PUN 2's six-argument overload) asks the lobby");
            Check(g.Until(() => g.Pun.Count("OnJoinedRoom") == 1, LongWait), "... and joins: OnJoinedRoom");
            Check(g.Pun.Count("OnJoinRandomFailed") == 1, "... with no further OnJoinRandomFailed");
            Check(PhotonNetwork.InRoom && !PhotonNetwork.IsMasterClient && g.Room.LocalActor == 2, "... InRoom, not master client, actor 2");
            // The properties the host set before we came (CreateRoom's) are readable from OnJoinedRoom on, as in PUN.
            const string hostRoom = RoomName + " {laps=3 (Int32), map=MP-Plugin (String), track=CMP-42 (String)}";
            Check(g.Pun.RoomsAtJoin.Count == 1 && g.Pun.RoomsAtJoin[0] == hostRoom,
                "in OnJoinedRoom, PhotonNetwork.CurrentRoom holds the properties set before we came: " + string.Join(" | ", g.Pun.RoomsAtJoin.ToArray()));
            Check(g.Room.RoomProperties != null && Describe(g.Room.RoomProperties) == Describe(PhotonNetwork.CurrentRoom.CustomProperties),
                "... and RoomBridge.RoomProperties holds the same");
            Check(LibraryRoom(g) == "{\"laps\":\"i:3\",\"map\":\"s:MP-Plugin\",\"track\":\"s:CMP-42\"}",
                "... read from the library's room (RoomPropertiesJson), which holds those three and nothing else: " + LibraryRoom(g));
            Console.WriteLine("ROOM-PROPERTIES joined " + LibraryRoom(g));
            Check(joined.Count >= 1 && joined[0].Key.Actor == 2 && joined[0].Key.Name == "Plugin Joiner" && joined[0].Value == 0
                && new List<PlayerRecord>(g.Room.Players).Exists(p => p.Actor == 2 && p.Name == "Plugin Joiner"),
                "PlayerJoined for ourselves (actor 2, \"Plugin Joiner\") before OnJoinedRoom, and RoomBridge.Players holds us");
            Check(g.Until(() => new List<PlayerRecord>(g.Room.Players).Exists(p => p.Actor == 1 && p.Name == "Plugin Host"), Wait),
                "RoomBridge.Players holds the host, \"Plugin Host\"");
            Check(g.Pun.Count("OnRoomPropertiesUpdate") == 0, "... and the room's existing properties raised no OnRoomPropertiesUpdate");
            Check(g.Until(() => !double.IsNaN(PhotonNetwork.Time) && PhotonNetwork.Time > 0, Wait), "PhotonNetwork.Time is the host's clock once synced");
            PhotonNetwork.SendRate = 40;
            Check(g.Room.GameSendRate == 40 && PhotonNetwork.SendRate == 40, "set_SendRate is observed and still stored by Photon");

            Check(PhotonNetwork.RaiseEvent(42, new[] { 1, 2, 3 }, new RaiseEventOptions { Receivers = ReceiverGroup.MasterClient }, SendOptions.SendReliable),
                "RaiseEvent 42 (int[], Photon-serialized) to the master client is sent");
            Check(PhotonNetwork.RaiseEvent(43, "hello", new RaiseEventOptions { TargetActors = new[] { 1 } }, SendOptions.SendReliable),
                "RaiseEvent 43 (a string) to actor 1 is sent");
            Check(!PhotonNetwork.JoinRandomRoom() && g.Until(() => g.Pun.Count("OnJoinRandomFailed") == 2, Wait)
                && Args(g.Pun.Last("OnJoinRandomFailed"), (short)-1, "propwash: already in a room"),
                "JoinRandomRoom in a room fails: already in a room");
            Check(!new Room(RoomName, null).SetCustomProperties(Table("laps", 9)) && Logged("Warning only the host can change room properties"),
                "a joiner's Room.SetCustomProperties is refused with a warning");
            Check(PhotonNetwork.LocalPlayer.SetCustomProperties(Table("ready", true)), "the local Player.SetCustomProperties is sent");
            Check(!new Player(1, false).SetCustomProperties(Table("ready", false)), "another player's SetCustomProperties is refused");

            // The host answers once our events and our drone reached it.
            PunCallbacks.Call ack = null;
            Check(g.Until(() => (ack = g.Pun.Calls.FindLast(c => c.Name == "OnRoomPropertiesUpdate" && Equals(((IDictionary)c.Args[0])["seen"], 2))) != null, LongWait),
                "OnRoomPropertiesUpdate with the host's answer (seen = 2)");
            Check(ack != null && ack.Args[0] is ExitGames.Client.Photon.Hashtable, "... as a Photon Hashtable");
            g.For(0.2);
            Check(RoomUpdates(g, 0) == "{laps=5 (Int32), seen=2 (Int32)}",
                "... the host's SetCustomProperties of 2 keys is exactly one OnRoomPropertiesUpdate with both (laps an int again): " + RoomUpdates(g, 0));
            IDictionary current = PhotonNetwork.CurrentRoom == null ? null : PhotonNetwork.CurrentRoom.CustomProperties;
            Check(current != null && Equals(current["laps"], 5) && Equals(current["seen"], 2) && Equals(current["map"], "MP-Plugin"),
                "CurrentRoom.CustomProperties follows the changes: " + (current == null ? "null" : Describe(current)));
            Check(g.Until(() => Near(theirs.transform.position, HostAt), Wait), "the host's drone moves propwash-pilot-1 to " + HostAt);

            // One callback per SetCustomProperties call, as in PUN, however the Updates fall: our own two
            // calls in one frame, and the host's two (asked with event 44).
            int roomUpdates = g.Pun.Count("OnRoomPropertiesUpdate");
            playerChanges.Clear();
            Check(PhotonNetwork.LocalPlayer.SetCustomProperties(Table("car", 7)) && PhotonNetwork.LocalPlayer.SetCustomProperties(Table("car", 8, "skin", "red")),
                "two local Player.SetCustomProperties calls in one frame are sent");
            Check(PhotonNetwork.RaiseEvent(44, null, new RaiseEventOptions { Receivers = ReceiverGroup.MasterClient }, SendOptions.SendReliable),
                "RaiseEvent 44 asks the host for two Room.SetCustomProperties calls");
            g.Until(() => g.Pun.Count("OnRoomPropertiesUpdate") >= roomUpdates + 2 && playerChanges.Count >= 2, LongWait);
            g.For(0.2);
            Check(RoomUpdates(g, roomUpdates) == "{round=1 (Int32)} | {phase=go (String), round=2 (Int32)}",
                "the host's round = 1, then round = 2 and phase = go: two OnRoomPropertiesUpdate, in order, each with all its keys: " + RoomUpdates(g, roomUpdates));
            Check(Changes(playerChanges) == "2 {car=7 (Int32)} | 2 {car=8 (Int32), skin=red (String)}",
                "our car = 7, then car = 8 and skin = red: two PlayerPropertiesChanged for actor 2, in order, each with all its keys: " + Changes(playerChanges));
            PlayerRecord me = new List<PlayerRecord>(g.Room.Players).Find(p => p.Actor == 2);
            Check(me != null && Prop(me, "car") == "i:8" && Prop(me, "skin") == "s:red" && Prop(me, "ready") == "b:1", "... and our record in RoomBridge.Players holds them");
            Check(!g.Pun.Calls.Exists(c => c.Name == "OnRoomPropertiesUpdate" && ((IDictionary)c.Args[0]).Contains("map")),
                "no OnRoomPropertiesUpdate ever carried the properties set before we came");
            roomUpdates = g.Pun.Count("OnRoomPropertiesUpdate");

            // The dropped-frame count is per session: make this one look like it lost 600 frames. One
            // more drop, a frame pushed while leaving, would log the warning (it logs the 601st).
            typeof(RoomBridge).GetField("dropped", BindingFlags.NonPublic | BindingFlags.Instance).SetValue(g.Room, 600);
            Check(g.Room.DroppedFrames == 600, "RoomBridge.DroppedFrames reads the session's count");
            Check(PhotonNetwork.LeaveRoom(), "LeaveRoom returns true");
            Check(g.Until(() => g.Pun.Count("OnLeftRoom") == 1, Wait) && !PhotonNetwork.InRoom, "... OnLeftRoom, InRoom false");
            Check(!Logged("Warning local frames are being dropped"), "... no local frame was pushed into the closing session (no \"local frames are being dropped\" warning)");
            Check(g.Room.DroppedFrames == 0, "... and the dropped-frame count starts again for the next session");
            Check(g.Until(() => g.Pun.Count("OnConnectedToMaster") == 2, Wait) && g.Pun.Calls.FindLastIndex(c => c.Name == "OnConnectedToMaster") > g.Pun.IndexOf("OnLeftRoom")
                && PhotonNetwork.IsConnected, "... then OnConnectedToMaster (back on the master server, as PUN 2), still connected");
            g.For(0.2);
            Check(g.Pun.Count("OnDisconnected") == 0 && g.Pun.Count("OnConnectedToMaster") == 2, "... and no OnDisconnected, OnConnectedToMaster once");
            Check(PhotonNetwork.CurrentRoom == null, "... CurrentRoom Photon's again (null)");

            // JoinRoom by the name the room list showed joins that listed room.
            Check(PhotonNetwork.JoinRoom(RoomName), "JoinRoom(\"" + RoomName + "\"), the room list's name, joins through the lobby");
            Check(g.Until(() => g.Pun.Count("OnJoinedRoom") == 2, LongWait) && PhotonNetwork.InRoom && g.Room.LocalActor == 3, "... OnJoinedRoom as actor 3");
            Check(g.Pun.Count("OnJoinRoomFailed") == 0, "... with no OnJoinRoomFailed");
            Check(g.Pun.RoomsAtJoin.Count == 2 && g.Pun.RoomsAtJoin[1]
                == RoomName + " {laps=5 (Int32), map=MP-Plugin (String), phase=go (String), round=2 (Int32), seen=2 (Int32), track=CMP-42 (String)}",
                "... and in OnJoinedRoom CurrentRoom holds every property set so far, later ones included: " + string.Join(" | ", g.Pun.RoomsAtJoin.ToArray()));
            Check(joined.Exists(j => j.Key.Actor == 3 && j.Value == 1) && new List<PlayerRecord>(g.Room.Players).Exists(p => p.Actor == 3),
                "... PlayerJoined for ourselves (actor 3) before it, and RoomBridge.Players holds us");

            // Seated until the host leaves (the test closes the host after the stranger's turn).
            Console.WriteLine("SEATED-AGAIN");
            Check(g.Until(() => g.Pun.Count("OnLeftRoom") == 2, 20), "the host closing the room raises OnLeftRoom");
            Check(g.Until(() => g.Pun.Count("OnDisconnected") == 1, Wait) && g.Pun.Calls.FindLastIndex(c => c.Name == "OnLeftRoom") < g.Pun.IndexOf("OnDisconnected")
                && !PhotonNetwork.InRoom && !PhotonNetwork.IsConnected,
                "... then OnDisconnected (we did not leave), InRoom and IsConnected false");
            Check(Args(g.Pun.Last("OnDisconnected"), DisconnectCause.DisconnectByServerLogic), "... with DisconnectCause.DisconnectByServerLogic (the host closed the room): " + g.Pun.Last("OnDisconnected"));
            Check(g.Pun.Count("OnConnectedToMaster") == 2, "... and no OnConnectedToMaster");
            Check(g.Pun.Count("OnRoomPropertiesUpdate") == roomUpdates, "joining again raised no OnRoomPropertiesUpdate for the room's existing properties");
            Unloaded(g);
        }

        private static void Stranger()
        {
            Game g = Game.Start(Env("PROPWASH_TEST_GAME"),
                "[Network]", "Coordinator = " + Env("PROPWASH_TEST_COORDINATOR"), "RoomPassword = not-" + Password,
                "[Identity]", "Offline = true", "OfflineName = Plugin Stranger", "SyncPlayerState = false",
                "[Player]", "NameOverride = Plugin Stranger");
            Loaded(g);
            Connect(g);

            Check(PhotonNetwork.JoinRandomRoom(), "JoinRandomRoom with the wrong password asks the lobby");
            Check(g.Until(() => g.Pun.Count("OnJoinRandomFailed") > 0, LongWait), "... and fails: OnJoinRandomFailed");
            g.For(1.5);
            Check(g.Pun.Count("OnJoinRandomFailed") == 1, "... exactly once (" + g.Pun.Count("OnJoinRandomFailed") + ")");
            Check(Args(g.Pun.Last("OnJoinRandomFailed"), (short)-1, "wrong password"), "... with the library's WrongPassword message: " + g.Pun.Last("OnJoinRandomFailed"));
            Check(g.Pun.Count("OnJoinedRoom") == 0 && g.Pun.Count("OnLeftRoom") == 0 && g.Pun.Count("OnDisconnected") == 0 && !PhotonNetwork.InRoom,
                "... and no OnJoinedRoom, OnLeftRoom or OnDisconnected");

            // A session id nobody lists: the coordinator refuses, the join fails once.
            Check(PhotonNetwork.JoinRoom("00000000000000ab"), "JoinRoom of a session id (16 hex digits) joins through the lobby");
            Check(g.Until(() => g.Pun.Count("OnJoinRoomFailed") > 0, LongWait), "... which has no such room: OnJoinRoomFailed");
            g.For(1.0);
            PunCallbacks.Call gone = g.Pun.Last("OnJoinRoomFailed");
            Check(g.Pun.Count("OnJoinRoomFailed") == 1 && gone != null && (gone.Args[1] as string ?? "").Length > 0 && !((string)gone.Args[1]).StartsWith("propwash: the join ended", StringComparison.Ordinal),
                "... exactly once, with the coordinator's reason: " + gone);
            Check(g.Pun.Count("OnJoinedRoom") == 0 && !PhotonNetwork.InRoom, "... and no OnJoinedRoom");

            // Without a password the room that asks one is not offered.
            g.Set("Network", "RoomPassword", "");
            Check(PhotonNetwork.JoinRandomRoom(), "JoinRandomRoom without a password asks the lobby");
            Check(!PhotonNetwork.JoinRandomRoom(), "... a second JoinRandomRoom meanwhile returns false");
            Check(g.Until(() => g.Pun.Count("OnJoinRandomFailed") == 3, LongWait), "... two more OnJoinRandomFailed");
            List<PunCallbacks.Call> fails = g.Pun.Calls.FindAll(c => c.Name == "OnJoinRandomFailed");
            Check(fails.Count == 3 && Args(fails[1], (short)-1, "propwash: still looking for a room (JoinRandomRoom)"), "... the second search: still looking for a room");
            Check(fails.Count == 3 && Args(fails[2], (short)32760, "propwash: no open rooms for " + GameVersion), "... the first: no open rooms (the host's asks a password)");
            Unloaded(g);
        }

        // ---- shared steps -----------------------------------------------------

        /// <summary>Awake went through: the library loaded, every hook of the table patched a PUN 2 method.</summary>
        private static void Loaded(Game g)
        {
            Check(g.Plugin != null && g.Plugin.enabled && g.Room != null, "Awake: the plugin is enabled and PropwashPlugin.Room is set");
            Check(Logged("Info propwash native library "), "Awake: the native library loaded");
            int patched = HarmonyLib.Harmony.PatchedMethods().Count;
            Check(patched >= 23 && Logged("Info " + patched + " Photon methods patched"), "Awake: " + patched + " PUN 2 methods patched, as the log says");
            Check(!ManualLogSource.Recorded.Exists(l => l.StartsWith("Warning hook ", StringComparison.Ordinal)), "Awake: no hook of the table was skipped");
        }

        private static void Connect(Game g)
        {
            Check(PhotonNetwork.ConnectUsingSettings(), "ConnectUsingSettings returns true");
            Check(g.Until(() => g.Pun.Count("OnConnectedToMaster") == 1, Wait) && PhotonNetwork.IsConnected && PhotonNetwork.IsConnectedAndReady,
                "... OnConnectedToMaster, IsConnected, IsConnectedAndReady");
            Check(!PhotonNetwork.Originals.Exists(o => o == "ConnectUsingSettings" || o == "get_IsConnected"), "... answered without Photon's own code");
        }

        /// <summary>OnDestroy: hooks removed, PUN's own code answers again; nothing logged an error.</summary>
        private static void Unloaded(Game g)
        {
            g.Unload();
            Check(PropwashPlugin.Room == null && HarmonyLib.Harmony.PatchedMethods().Count == 0, "OnDestroy: PropwashPlugin.Room cleared, every hook removed");
            int before = PhotonNetwork.Originals.Count;
            Check(!PhotonNetwork.InRoom && PhotonNetwork.Originals.Count == before + 1, "... PhotonNetwork.InRoom is Photon's again");
            List<string> errors = ManualLogSource.Recorded.FindAll(l => l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Fatal", StringComparison.Ordinal));
            Check(errors.Count == 0, "no error was logged" + (errors.Count == 0 ? "" : ": " + string.Join(" | ", errors.ToArray())));
        }

        private static RoomInfo Listed(Game g, string name)
        {
            PunCallbacks.Call c = g.Pun.Last("OnRoomListUpdate");
            List<RoomInfo> rooms = c == null ? null : c.Args[0] as List<RoomInfo>;
            return rooms == null ? null : rooms.Find(r => r.Name == name);
        }

        /// <summary>The room's properties as the library holds them (PropwashSession.RoomPropertiesJson, read through the bridge's session); null outside a session.</summary>
        private static string LibraryRoom(Game g)
        {
            PropwashSession s = typeof(RoomBridge).GetField("session", BindingFlags.NonPublic | BindingFlags.Instance).GetValue(g.Room) as PropwashSession;
            return s == null ? null : s.RoomPropertiesJson();
        }

        /// <summary>The OnRoomPropertiesUpdate calls after the first <paramref name="skip"/>, described and joined with " | ".</summary>
        private static string RoomUpdates(Game g, int skip)
        {
            List<PunCallbacks.Call> all = g.Pun.Calls.FindAll(c => c.Name == "OnRoomPropertiesUpdate");
            List<string> shown = new List<string>();
            for (int i = skip; i < all.Count; i++) shown.Add(Describe((IDictionary)all[i].Args[0]));
            return string.Join(" | ", shown.ToArray());
        }

        /// <summary>PlayerPropertiesChanged calls as "actor {changes}", joined with " | ".</summary>
        private static string Changes(List<KeyValuePair<ushort, IDictionary>> changes)
        {
            return string.Join(" | ", changes.ConvertAll(c => c.Key + " " + Describe(c.Value)).ToArray());
        }

        /// <summary>A player's property as the library stores it ("i:8"); null when absent.</summary>
        private static string Prop(PlayerRecord p, string key)
        {
            string v;
            return p.Props.TryGetValue(key, out v) ? v : null;
        }

        private static GameObject Drone(string name, Vector3 at)
        {
            GameObject go = new GameObject(name);
            go.transform.position = at;
            go.transform.rotation = new Quaternion(0f, 0f, 0f, 1f);
            go.AddComponent<Rigidbody>();
            return go;
        }

        private static bool Near(Vector3 a, Vector3 b)
        {
            return Math.Abs(a.x - b.x) < 0.01f && Math.Abs(a.y - b.y) < 0.01f && Math.Abs(a.z - b.z) < 0.01f;
        }

        private static ExitGames.Client.Photon.Hashtable Table(params object[] kv)
        {
            ExitGames.Client.Photon.Hashtable t = new ExitGames.Client.Photon.Hashtable();
            for (int i = 0; i + 1 < kv.Length; i += 2) t[kv[i]] = kv[i + 1];
            return t;
        }

        public static string Describe(IDictionary d)
        {
            List<string> parts = new List<string>();
            foreach (DictionaryEntry e in d)
            {
                parts.Add(Convert.ToString(e.Key, CultureInfo.InvariantCulture) + "=" + (e.Value == null ? "null" : e.Value + " (" + e.Value.GetType().Name + ")"));
            }
            parts.Sort(StringComparer.Ordinal);
            return "{" + string.Join(", ", parts.ToArray()) + "}";
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

        private static bool Logged(string prefix)
        {
            return ManualLogSource.Recorded.Exists(l => l.StartsWith(prefix, StringComparison.Ordinal));
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

        private static void Fail(string what)
        {
            failed++;
            Console.WriteLine("FAIL - " + what);
        }
    }
}
