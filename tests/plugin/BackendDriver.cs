// The plugin's backend redirect, one game per process: tests/plugin_backend.rs
// runs this program under mono with the Propwash.Shim.dll that shim/build.sh
// built against the stubs, bound at run time to the FAKE UnityEngine,
// UnityEngine.UnityWebRequestModule, BepInEx and 0Harmony assemblies of
// this folder and the real libpropwash. No Photon here: the plugin's
// Photon hooks are skipped (logged), which this test does not look at.
//
// Modes (argv[0]); PROPWASH_TEST_GAME names the game folder (a copy of
// tests/fixtures/backend/game, with BepInEx beside DRL Simulator_Data):
//   redirect  nothing else in place: requests for https://api.drlgame.com/... reach the stand-in on
//             loopback (game state, license, a player-state write, a custom map, an unknown route,
//             answered and logged); other hosts are left alone; after unloading nothing is rewritten
//   hosts     a hosts-file entry for the backend host: the plugin says so and stays out of the way
//   plugin    a certificate-bypass plugin in BepInEx/plugins: the same
//   forced    both present, Backend.Enabled = On: redirected anyway
//   off       Backend.Enabled = Off: nothing starts, nothing is rewritten
// Every wait is bounded. Prints "plugin backend MODE: N passed, M failed" last.
using System;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;
using BepInEx.Logging;
using Propwash.Shim;
using UnityEngine;
using UnityEngine.Networking;

namespace Propwash.PluginTest
{
    internal static class BackendProgram
    {
        private const string Backend = "https://api.drlgame.com";
        private static int passed, failed;
        private static string root;
        private static GameObject pluginObject;

        private static int Main(string[] args)
        {
            string mode = args.Length > 0 ? args[0] : "";
            try
            {
                root = Environment.GetEnvironmentVariable("PROPWASH_TEST_GAME");
                if (string.IsNullOrEmpty(root)) throw new InvalidOperationException("PROPWASH_TEST_GAME is not set");
                switch (mode)
                {
                    case "redirect": Redirect(); break;
                    case "hosts": Hosts(); break;
                    case "plugin": OtherPlugin(); break;
                    case "forced": Forced(); break;
                    case "off": Off(); break;
                    default: Check(false, "unknown mode \"" + mode + "\""); break;
                }
            }
            catch (Exception e)
            {
                Check(false, "unexpected exception: " + e);
            }
            Check(Engine.Exceptions == 0, "no exception escaped a Unity message");
            Console.WriteLine("plugin backend " + mode + ": " + passed + " passed, " + failed + " failed");
            return failed == 0 ? 0 : 1;
        }

        /// <summary>Writes the config and a hosts file, then loads the plugin (Awake).</summary>
        private static void Load(string enabled, string hostsLine)
        {
            string config = Path.Combine(Path.Combine(root, "BepInEx"), "config");
            Directory.CreateDirectory(config);
            BepInEx.Paths.SetGameRoot(root);
            string hosts = Path.Combine(root, "hosts");
            File.WriteAllText(hosts, "127.0.0.1 localhost\n# 127.0.0.1 api.drlgame.com (a comment)\n" + hostsLine + "\n");
            File.WriteAllText(Path.Combine(config, "propwash.cfg"), string.Join("\n", new[]
            {
                "[Identity]",
                "Offline = true",
                "OfflineName = Backend Tester",
                "SyncPlayerState = false",
                "[Backend]",
                "Enabled = " + enabled,
                "HostsFile = " + hosts,
            }) + "\n");
            Application.version = "4.2.plugin";
            Application.streamingAssetsPath = Path.Combine(Path.Combine(root, "DRL Simulator_Data"), "StreamingAssets");
            pluginObject = new GameObject("BepInEx_Manager");
            pluginObject.AddComponent<PropwashPlugin>();
        }

        private static void Unload()
        {
            UnityEngine.Object.Destroy(pluginObject);
        }

        /// <summary>Unity frames until <paramref name="done"/> or 10 s.</summary>
        private static bool Until(Func<bool> done)
        {
            Stopwatch sw = Stopwatch.StartNew();
            while (!done())
            {
                if (sw.Elapsed.TotalSeconds > 10) return false;
                Engine.Frame();
                Thread.Sleep(5);
            }
            return true;
        }

        private static bool Logged(string part)
        {
            return ManualLogSource.Recorded.Exists(l => l.Contains(part));
        }

        private static UnityWebRequest Send(UnityWebRequest r)
        {
            UnityWebRequestAsyncOperation op = r.SendWebRequest();
            Check(op != null && op.isDone && r.isDone, r.method + " " + r.url + ": done");
            return r;
        }

        private static string Last()
        {
            return UnityWebRequest.SentTo.Count == 0 ? "" : UnityWebRequest.SentTo[UnityWebRequest.SentTo.Count - 1];
        }

        private static string Data(string body)
        {
            int at = body.IndexOf("\"data\":\"", StringComparison.Ordinal);
            if (at < 0) return null;
            int start = at + 8, end = body.IndexOf('"', start);
            return Encoding.UTF8.GetString(Convert.FromBase64String(body.Substring(start, end - start)));
        }

        private static void Redirect()
        {
            Load("Auto", "");
            Check(Logged("backend: requests to api.drlgame.com now go to propwash's stand-in at http://127.0.0.1:"), "Awake: the stand-in started and the redirect is on, as the log says");
            string target = BackendRedirect.Target;
            Check(target != null && target.StartsWith("http://127.0.0.1:", StringComparison.Ordinal), "the stand-in is on loopback: " + target);

            UnityWebRequest state = Send(UnityWebRequest.Get(Backend + "/state/game"));
            Check(Last() == target + "/state/game", "GET " + Backend + "/state/game was sent to the stand-in: " + Last());
            Check(state.error == null && state.responseCode == 200, "... answered 200 (error " + state.error + ")");
            string text = state.downloadHandler.text ?? "";
            Check(text.Contains("\"serverStatus\":\"online\"") && text.Contains("\"version\":\"4.2.plugin\"") && text.Contains("\"encoded\":false"),
                "... raw game state with the game's version: " + text);

            UnityWebRequest lic = Send(UnityWebRequest.Get("HTTPS://API.DRLGAME.COM:443/v1/player/license"));
            string license = Data(lic.downloadHandler.text ?? "") ?? "";
            Check(lic.responseCode == 200 && license.Contains("\"licensed\":false"), "the license, Base64, says not licensed without Steam: " + license);
            Check(Until(() => Logged("cannot ask Steam whether this account owns DRL Simulator")), "... and the log says why, and that the setting decided");

            UnityWebRequest write = Send(UnityWebRequest.Post(Backend + "/state/player", "{\"profile-color\":\"123456\"}"));
            Check(write.responseCode == 200 && (Data(write.downloadHandler.text ?? "") ?? "").Contains("\"profile-color\":\"123456\""), "a player-state write is answered with the new state");
            string file = Path.Combine(Application.streamingAssetsPath, "game/storage/offline/state/player/player-state.json");
            Check(File.ReadAllText(file).Contains("\"profile-color\": \"123456\""), "... and landed in player-state.json");

            UnityWebRequest map = Send(UnityWebRequest.Get(Backend + "/maps?guid=CMP-5f2a91"));
            Check(map.responseCode == 200 && (map.downloadHandler.text ?? "").Contains("\"map-title\":\"Night Stadium\""), "a custom map by guid comes from its .cmp file");

            UnityWebRequest unknown = Send(UnityWebRequest.Get(Backend + "/v9/unknown/route?x=1&y=two"));
            Check(Last() == target + "/v9/unknown/route?x=1&y=two", "an unknown route goes to the stand-in too, path and query as sent");
            Check(unknown.responseCode == 200 && (unknown.downloadHandler.text ?? "").Contains("\"success\":true") && Data(unknown.downloadHandler.text ?? "") == "{}",
                "... answered with an empty success: " + unknown.downloadHandler.text);
            Check(Until(() => Logged("no route for GET /v9/unknown/route?x=1&y=two")), "... and logged with method, path and query");

            UnityWebRequest other = Send(UnityWebRequest.Get("https://cdn.example.com/x"));
            Check(Last() == "https://cdn.example.com/x" && other.error != null, "a request for another host is left alone");
            Check(UnityWebRequest.SentTo.FindAll(u => u.IndexOf("drlgame", StringComparison.OrdinalIgnoreCase) >= 0).Count == 0, "nothing was sent to the backend host itself");
            Check(BackendRedirect.Rewritten == 5, "five requests were rewritten: " + BackendRedirect.Rewritten);
            Check(Logged("backend: the game's first backend request went to the stand-in: " + Backend + "/state/game"), "the first rewrite is logged");

            Unload();
            Check(BackendRedirect.Target == null, "OnDestroy: the stand-in is stopped");
            UnityWebRequest after = Send(UnityWebRequest.Get(Backend + "/state/game"));
            Check(Last() == Backend + "/state/game" && after.error != null, "after unloading nothing is rewritten (and nothing answers offline)");
            Console.WriteLine("BACKEND-PORT " + target.Substring(target.LastIndexOf(':') + 1));
        }

        private static void StaysOut(string why)
        {
            Check(Logged(why) && Logged("propwash stays out of the way"), "Awake: says what it found and stays out of the way (" + why + ")");
            Check(BackendRedirect.Target == null, "... no stand-in started");
            Send(UnityWebRequest.Get(Backend + "/state/game"));
            Check(Last() == Backend + "/state/game", "... the game's request goes where it would: " + Last());
            Unload();
        }

        private static void Hosts()
        {
            Load("Auto", "127.0.0.1\tother.example api.drlgame.com");
            StaysOut("sends api.drlgame.com to 127.0.0.1 (the community's mock server)");
        }

        private static void OtherPlugin()
        {
            string dir = Path.Combine(Path.Combine(Path.Combine(root, "BepInEx"), "plugins"), "Community");
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "DRLCertificateBypass.dll"), "");
            Load("Auto", "");
            StaysOut("DRLCertificateBypass.dll looks like a certificate or license bypass");
        }

        private static void Forced()
        {
            string dir = Path.Combine(Path.Combine(Path.Combine(root, "BepInEx"), "plugins"), "Community");
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, "LicenseBypass.dll"), "");
            Load("On", "127.0.0.1 api.drlgame.com");
            Check(BackendRedirect.Target != null, "Backend.Enabled = On: the stand-in starts whatever else is there");
            UnityWebRequest r = Send(UnityWebRequest.Get(Backend + "/state/game"));
            Check(Last() == BackendRedirect.Target + "/state/game" && r.responseCode == 200, "... and answers the game: " + Last());
            Unload();
        }

        private static void Off()
        {
            Load("Off", "");
            Check(Logged("backend: off (Backend.Enabled = Off)") && BackendRedirect.Target == null, "Backend.Enabled = Off: nothing starts, as the log says");
            Send(UnityWebRequest.Get(Backend + "/state/game"));
            Check(Last() == Backend + "/state/game", "... nothing is rewritten");
            Unload();
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
                failed++;
                Console.WriteLine("FAIL - " + what);
            }
        }
    }
}
