// The game's backend (api.drlgame.com) is gone; the library answers in its
// place on http://127.0.0.1:<port>. This part of the plugin starts that
// stand-in and patches UnityWebRequest.SendWebRequest with a Harmony
// prefix that rewrites every request for the backend host to it, before
// the request leaves: no certificate, no hosts file, no admin rights.
//
// Coexistence: players who set up the community's workaround (a hosts-file
// entry for the backend host pointing at a mock server, certificate and
// license bypass plugins) keep it. With Backend.Enabled = Auto the plugin
// looks for those first and, when it finds one, says what it found and
// stays out of the way; On redirects anyway, Off never does.
//
// UnityWebRequest is reached by reflection (as Photon is), so the plugin
// loads wherever its type or members differ; the log says what was
// patched or skipped.
using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using BepInEx.Configuration;
using BepInEx.Logging;
using HarmonyLib;

namespace Propwash.Shim
{
    /// <summary>Backend.Enabled: whether requests for the game's backend go to propwash's stand-in.</summary>
    public enum BackendMode
    {
        /// <summary>Redirect unless another way of reaching a backend is found (hosts file, bypass plugins).</summary>
        Auto,
        /// <summary>Always redirect.</summary>
        On,
        /// <summary>Never redirect; the stand-in does not start.</summary>
        Off,
    }

    /// <summary>The redirect of the game's backend requests to the stand-in (public for other mods and tests: where, and how many).</summary>
    public static class BackendRedirect
    {
        private const string WebRequestType = "UnityEngine.Networking.UnityWebRequest";

        private static PropwashBackend backend;
        private static ManualLogSource log;
        private static string backendHost;
        private static string target;
        private static PropertyInfo urlProperty;
        private static int rewritten;

        /// <summary>Requests rewritten to the stand-in so far (for tests and the log).</summary>
        public static int Rewritten { get { return rewritten; } }

        /// <summary>The stand-in's base URL (<c>http://127.0.0.1:port</c>), or null when not redirecting.</summary>
        public static string Target { get { return target; } }

        /// <summary>Reads [Backend], decides, starts the stand-in and patches SendWebRequest. Never throws.</summary>
        internal static void Install(ConfigFile config, Harmony harmony, ManualLogSource logger, string dataDir, string gameVersion)
        {
            log = logger;
            try
            {
                ConfigEntry<BackendMode> mode = config.Bind("Backend", "Enabled", BackendMode.Auto,
                    "Answer the game's requests for its vanished backend (api.drlgame.com) with propwash's stand-in on 127.0.0.1. Auto: unless a hosts-file entry for the backend host or a certificate/license bypass plugin is found (then propwash stays out of the way and the log says why). On: always. Off: never.");
                ConfigEntry<string> host = config.Bind("Backend", "Host", "api.drlgame.com",
                    "The backend host whose requests are redirected.");
                ConfigEntry<bool> offlineLicensed = config.Bind("Backend", "OfflineLicensed", false,
                    "The license answer when Steam cannot be asked (offline identity, no Steam plugin). With Steam the answer is Steam's: whether this account owns DRL Simulator (app 641780).");
                ConfigEntry<string> hostsFile = config.Bind("Backend", "HostsFile", "",
                    "The hosts file Auto looks at for an entry of the backend host. Empty: the system's (Windows: System32\\drivers\\etc\\hosts).");
                ConfigEntry<string> otherPlugins = config.Bind("Backend", "OtherPlugins", "cert,ssl,license,drlmock,drlbackend,drloffline",
                    "Comma-separated words; a DLL under BepInEx/plugins (outside propwash's folder) whose file name holds one is taken, in Auto, for a community certificate or license bypass plugin.");
                ConfigEntry<string> routesFile = config.Bind("Backend", "RoutesFile", "propwash-backend-routes.json",
                    "Corrections to the stand-in's routes table, a JSON file in BepInEx/config (see shim/README). Missing: the table as built.");
                backendHost = host.Value.Trim();
                if (mode.Value == BackendMode.Off)
                {
                    logger.LogInfo("backend: off (Backend.Enabled = Off); the game's requests to " + backendHost + " go where they would");
                    return;
                }
                if (mode.Value == BackendMode.Auto)
                {
                    string pluginsDir = Path.Combine(Path.GetDirectoryName(BepInEx.Paths.ConfigPath), "plugins");
                    string ownDir = Path.GetDirectoryName(typeof(BackendRedirect).Assembly.Location);
                    string found = FindOtherBackend(backendHost, HostsPath(hostsFile.Value), pluginsDir, ownDir, otherPlugins.Value);
                    if (found != null)
                    {
                        logger.LogWarning("backend: " + found + "; propwash stays out of the way (set Backend.Enabled = On to use its stand-in instead)");
                        return;
                    }
                }
                MethodInfo send = SendMethod(logger);
                if (send == null) return;
                string routes = ReadRoutes(routesFile.Value, logger);
                backend = PropwashBackend.Start(dataDir, gameVersion, offlineLicensed.Value, routes);
                target = "http://127.0.0.1:" + backend.Port;
                harmony.Patch(send, new HarmonyMethod(typeof(BackendRedirect).GetMethod("Prefix", BindingFlags.Static | BindingFlags.NonPublic)));
                logger.LogInfo("backend: requests to " + backendHost + " now go to propwash's stand-in at " + target);
            }
            catch (Exception e)
            {
                logger.LogError("backend: the stand-in is off, the game's backend requests go where they would: " + e.Message);
                Uninstall();
            }
        }

        /// <summary>Stops rewriting and stops the stand-in (the Harmony patch goes with UnpatchSelf).</summary>
        internal static void Uninstall()
        {
            target = null;
            if (backend != null) backend.Dispose();
            backend = null;
        }

        /// <summary>Harmony prefix on UnityWebRequest.SendWebRequest: points a request for the backend host at the stand-in.</summary>
        private static void Prefix(object __instance)
        {
            try
            {
                string to = target;
                if (to == null || urlProperty == null || __instance == null) return;
                string url = urlProperty.GetValue(__instance, null) as string;
                string moved = Rewrite(url, backendHost, to);
                if (moved == null) return;
                urlProperty.SetValue(__instance, moved, null);
                if (++rewritten == 1) log.LogInfo("backend: the game's first backend request went to the stand-in: " + url + " -> " + moved);
                else log.LogDebug("backend: " + url + " -> " + moved);
            }
            catch (Exception e)
            {
                // Never let a failure here reach the game's request.
                log.LogWarning("backend: could not redirect a request: " + e.Message);
            }
        }

        /// <summary>
        /// <paramref name="url"/> on the stand-in when its host is <paramref name="host"/> (http or https,
        /// any case, any port), keeping path and query as sent; null for any other URL.
        /// </summary>
        internal static string Rewrite(string url, string host, string to)
        {
            if (string.IsNullOrEmpty(url) || string.IsNullOrEmpty(host)) return null;
            Uri u;
            if (!Uri.TryCreate(url, UriKind.Absolute, out u)) return null;
            if (u.Scheme != Uri.UriSchemeHttps && u.Scheme != Uri.UriSchemeHttp) return null;
            if (!string.Equals(u.Host, host, StringComparison.OrdinalIgnoreCase)) return null;
            // PathAndQuery as sent (escaped), so the stand-in sees what the real server would.
            return to + u.PathAndQuery;
        }

        /// <summary>Why another backend is in place, or null: a hosts entry for the host, or a bypass plugin.</summary>
        internal static string FindOtherBackend(string host, string hostsPath, string pluginsDir, string ownDir, string words)
        {
            string entry = HostsEntry(hostsPath, host);
            if (entry != null) return "the hosts file " + hostsPath + " sends " + host + " to " + entry + " (the community's mock server)";
            List<string> keys = new List<string>();
            foreach (string w in (words ?? "").Split(','))
            {
                if (w.Trim().Length > 0) keys.Add(w.Trim().ToLowerInvariant());
            }
            if (keys.Count == 0 || !Directory.Exists(pluginsDir)) return null;
            string own = ownDir == null ? null : Path.GetFullPath(ownDir);
            foreach (string dll in Directory.GetFiles(pluginsDir, "*.dll", SearchOption.AllDirectories))
            {
                if (own != null && Path.GetFullPath(Path.GetDirectoryName(dll)).Equals(own, StringComparison.OrdinalIgnoreCase)) continue;
                string name = Path.GetFileNameWithoutExtension(dll).ToLowerInvariant();
                foreach (string k in keys)
                {
                    if (name.Contains(k)) return "the plugin " + dll + " looks like a certificate or license bypass (its name holds \"" + k + "\", see Backend.OtherPlugins)";
                }
            }
            return null;
        }

        /// <summary>The address a hosts file gives <paramref name="host"/>, or null.</summary>
        private static string HostsEntry(string path, string host)
        {
            if (string.IsNullOrEmpty(path) || !File.Exists(path)) return null;
            foreach (string raw in File.ReadAllLines(path))
            {
                int hash = raw.IndexOf('#');
                string line = hash >= 0 ? raw.Substring(0, hash) : raw;
                string[] parts = line.Split(new[] { ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries);
                for (int i = 1; i < parts.Length; i++)
                {
                    if (string.Equals(parts[i], host, StringComparison.OrdinalIgnoreCase)) return parts[0];
                }
            }
            return null;
        }

        private static string HostsPath(string configured)
        {
            if (!string.IsNullOrEmpty(configured)) return configured;
            string system = Environment.GetFolderPath(Environment.SpecialFolder.System);
            if (!string.IsNullOrEmpty(system)) return Path.Combine(Path.Combine(Path.Combine(system, "drivers"), "etc"), "hosts");
            return "/etc/hosts";
        }

        /// <summary>UnityWebRequest.SendWebRequest() and the url property, or null with a warning.</summary>
        private static MethodInfo SendMethod(ManualLogSource logger)
        {
            Type t = AccessTools.TypeByName(WebRequestType);
            if (t == null)
            {
                logger.LogWarning("backend: " + WebRequestType + " not found, the stand-in is off (is UnityEngine.UnityWebRequestModule loaded?)");
                return null;
            }
            MethodInfo send = t.GetMethod("SendWebRequest", BindingFlags.Public | BindingFlags.Instance, null, Type.EmptyTypes, null);
            urlProperty = t.GetProperty("url", BindingFlags.Public | BindingFlags.Instance);
            if (send == null || urlProperty == null || !urlProperty.CanWrite || urlProperty.PropertyType != typeof(string))
            {
                logger.LogWarning("backend: " + WebRequestType + " has no SendWebRequest() or settable string url here, the stand-in is off");
                urlProperty = null;
                return null;
            }
            return send;
        }

        private static string ReadRoutes(string file, ManualLogSource logger)
        {
            if (string.IsNullOrEmpty(file)) return "";
            string path = Path.IsPathRooted(file) ? file : Path.Combine(BepInEx.Paths.ConfigPath, file);
            if (!File.Exists(path)) return "";
            logger.LogInfo("backend: routes corrected by " + path);
            return File.ReadAllText(path);
        }
    }
}
