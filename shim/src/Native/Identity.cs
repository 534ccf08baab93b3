// Who the local racer is (pw_identity_*): started once per process on a
// native helper thread (Steam may take up to 5 s), read as JSON or typed
// values once ready, and written into the game's player-state.json.
//
// Threads: Start and the reads never block and may be called from the
// game's main thread (the reads allocate: call them when needed, not every
// frame). SyncPlayerState does a few small file operations: call it from a
// menu action or once when identity became ready, not every frame.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Propwash
{
    /// <summary><c>PwIdentityOptions</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PwIdentityOptions
    {
        public PwStr ConfigDir;
        public PwStr PlayerName;
        [MarshalAs(UnmanagedType.U1)]
        public bool Offline;
        public uint AppId;
        public PwStr SteamPlugin;
        [MarshalAs(UnmanagedType.U1)]
        public bool FetchAvatar;
    }

    /// <summary>How to start identity (<c>PwIdentityOptions</c>); defaults from the library.</summary>
    public sealed class IdentityOptions
    {
        /// <summary>The plugin's config folder (normally BepInEx/config), which must exist; the offline player id is kept there. Required.</summary>
        public string ConfigDir { get; set; }
        /// <summary>The display name without Steam (cut to 64 bytes); empty gives Pilot-xxxx. Ignored with Steam.</summary>
        public string PlayerName { get; set; }
        /// <summary>Do not try Steam at all.</summary>
        public bool Offline { get; set; }
        /// <summary>Steam app id (default 641780, DRL Simulator); 0 leaves it to Steam.</summary>
        public uint AppId { get; set; }
        /// <summary>The propwash-steam plugin file; empty searches beside the library first.</summary>
        public string SteamPlugin { get; set; }
        /// <summary>Fetch the avatar URL from Steam Community once Steam is up (on the native helper thread).</summary>
        public bool FetchAvatar { get; set; }

        public IdentityOptions()
        {
            PwIdentityOptions d;
            NativeMethods.pw_identity_options_default(out d);
            ConfigDir = "";
            PlayerName = "";
            Offline = d.Offline;
            AppId = d.AppId;
            SteamPlugin = "";
            FetchAvatar = d.FetchAvatar;
        }
    }

    /// <summary>The local racer's identity, as <c>pw_identity_json</c> gave it.</summary>
    public sealed class PlayerIdentity
    {
        /// <summary>The 64-bit Steam id; null without Steam.</summary>
        public ulong? SteamId { get; private set; }
        /// <summary>Display name (Steam persona name, or the configured name).</summary>
        public string Name { get; private set; }
        /// <summary>Public profile picture URL; null until fetched or without Steam.</summary>
        public string AvatarUrl { get; private set; }
        /// <summary>propwash's stable id for this install (32 hex digits).</summary>
        public string PlayerId { get; private set; }
        /// <summary>True when Steam vouches for this identity.</summary>
        public bool Verified { get; private set; }
        /// <summary>"steam" or "offline".</summary>
        public string Source { get; private set; }
        /// <summary>Why the identity is offline, when it is; otherwise null.</summary>
        public string Note { get; private set; }
        /// <summary>The JSON this was read from.</summary>
        public string Json { get; private set; }

        internal static PlayerIdentity Parse(string json)
        {
            Dictionary<string, object> o = FlatJson.Parse(json);
            string steamId = FlatJson.Text(o, "steam_id");
            return new PlayerIdentity
            {
                SteamId = steamId == null ? (ulong?)null : ulong.Parse(steamId, NumberStyles.None, CultureInfo.InvariantCulture),
                Name = FlatJson.Text(o, "name") ?? "",
                AvatarUrl = FlatJson.Text(o, "avatar_url"),
                PlayerId = FlatJson.Text(o, "player_id") ?? "",
                Verified = FlatJson.Flag(o, "verified"),
                Source = FlatJson.Text(o, "source") ?? "",
                Note = FlatJson.Text(o, "note"),
                Json = json,
            };
        }
    }

    /// <summary>What <see cref="PropwashIdentity.SyncPlayerState"/> did.</summary>
    public sealed class PlayerStateSync
    {
        /// <summary>The player-state.json written (or found up to date).</summary>
        public string Path { get; private set; }
        /// <summary>The keys changed or added, in file order.</summary>
        public string[] Changed { get; private set; }
        /// <summary>Whether the file was rewritten (false when it was up to date).</summary>
        public bool Written { get; private set; }
        /// <summary>The copy of the previous content, when the file was rewritten; otherwise null.</summary>
        public string Backup { get; private set; }
        /// <summary>The JSON this was read from.</summary>
        public string Json { get; private set; }

        internal static PlayerStateSync Parse(string json)
        {
            Dictionary<string, object> o = FlatJson.Parse(json);
            List<string> changed = o.ContainsKey("changed") ? o["changed"] as List<string> : null;
            return new PlayerStateSync
            {
                Path = FlatJson.Text(o, "path") ?? "",
                Changed = changed == null ? new string[0] : changed.ToArray(),
                Written = FlatJson.Flag(o, "written"),
                Backup = FlatJson.Text(o, "backup"),
                Json = json,
            };
        }
    }

    /// <summary>
    /// The process identity: <see cref="Start"/> once (it returns at once; Steam starts on a
    /// native helper thread), then read it with <see cref="TryGet"/> / <see cref="TryGetJson"/>,
    /// which are false while it is starting. Failures throw <see cref="PropwashException"/>.
    /// </summary>
    public static class PropwashIdentity
    {
        /// <summary>
        /// Starts identity for this process. Never blocks. Calling it again with the same
        /// options does nothing; with other options it throws InvalidArgument (identity starts
        /// once per process), naming what differs. Throws InvalidArgument for an empty or
        /// missing ConfigDir.
        /// </summary>
        public static void Start(IdentityOptions options)
        {
            if (options == null)
            {
                throw new ArgumentNullException("options");
            }
            PwIdentityOptions o;
            NativeMethods.pw_identity_options_default(out o);
            o.Offline = options.Offline;
            o.AppId = options.AppId;
            o.FetchAvatar = options.FetchAvatar;
            using (Utf8Arg dir = new Utf8Arg(options.ConfigDir))
            using (Utf8Arg name = new Utf8Arg(options.PlayerName))
            using (Utf8Arg plugin = new Utf8Arg(options.SteamPlugin))
            {
                o.ConfigDir = dir.Str;
                o.PlayerName = name.Str;
                o.SteamPlugin = plugin.Str;
                PropwashException.Check(NativeMethods.pw_identity_start(ref o), "pw_identity_start");
            }
        }

        /// <summary>
        /// The identity as JSON (the fields of <see cref="PlayerIdentity"/>, snake_case), or false
        /// while it is starting. Throws NotStarted before <see cref="Start"/>. Never blocks.
        /// </summary>
        public static bool TryGetJson(out string json)
        {
            byte[] buf = new byte[1024];
            for (int attempt = 0; attempt < 3; attempt++)
            {
                UIntPtr len;
                ResultCode r = NativeMethods.pw_identity_json(ref buf[0], (UIntPtr)(uint)buf.Length, out len);
                if (r == ResultCode.Ok)
                {
                    json = Encoding.UTF8.GetString(buf, 0, (int)len);
                    return true;
                }
                if (r == ResultCode.Pending)
                {
                    json = null;
                    return false;
                }
                if (r != ResultCode.BufferTooSmall)
                {
                    throw PropwashException.From(r, "pw_identity_json");
                }
                buf = new byte[(int)len];
            }
            throw new PropwashException(ResultCode.BufferTooSmall, "pw_identity_json", "the identity kept outgrowing the buffer");
        }

        /// <summary>The identity as JSON; throws Pending while it is starting, NotStarted before <see cref="Start"/>.</summary>
        public static string Json()
        {
            string json;
            if (!TryGetJson(out json))
            {
                throw new PropwashException(ResultCode.Pending, "pw_identity_json", PropwashException.Describe(ResultCode.Pending));
            }
            return json;
        }

        /// <summary>The identity, or false while it is starting. Throws NotStarted before <see cref="Start"/>.</summary>
        public static bool TryGet(out PlayerIdentity identity)
        {
            string json;
            identity = TryGetJson(out json) ? PlayerIdentity.Parse(json) : null;
            return identity != null;
        }

        /// <summary>The identity; throws Pending while it is starting, NotStarted before <see cref="Start"/>.</summary>
        public static PlayerIdentity Current()
        {
            return PlayerIdentity.Parse(Json());
        }

        /// <summary>
        /// Writes the identity into the game's player-state.json (<paramref name="gameDir"/>: the
        /// install folder holding "DRL Simulator_Data", or that folder). Only steam-id,
        /// profile-name and profile-photo-url change (and _id / player-id when missing); the old
        /// file is kept as player-state.json.bak. Throws FileMissing, FileInvalid (the file is left
        /// untouched), IoFailed or InvalidArgument with the path in the message; Pending or
        /// NotStarted before identity is ready. Touches the disk: not every frame.
        /// </summary>
        public static PlayerStateSync SyncPlayerState(string gameDir)
        {
            using (Utf8Arg dir = new Utf8Arg(gameDir))
            {
                byte[] buf = new byte[4096];
                // The library checks the buffer before touching the file, so a retry
                // with the size it asked for is safe.
                for (int attempt = 0; attempt < 3; attempt++)
                {
                    UIntPtr len;
                    ResultCode r = NativeMethods.pw_identity_sync_player_state(dir.Str, ref buf[0], (UIntPtr)(uint)buf.Length, out len);
                    if (r == ResultCode.Ok)
                    {
                        return PlayerStateSync.Parse(Encoding.UTF8.GetString(buf, 0, (int)len));
                    }
                    if (r != ResultCode.BufferTooSmall)
                    {
                        throw PropwashException.From(r, "pw_identity_sync_player_state");
                    }
                    buf = new byte[(int)len];
                }
            }
            throw new PropwashException(ResultCode.BufferTooSmall, "pw_identity_sync_player_state", "the report kept outgrowing the buffer");
        }
    }

    /// <summary>
    /// Just enough JSON for the identity calls' answers: one object whose values are
    /// strings, null, true/false, numbers (kept as text) or arrays of strings.
    /// </summary>
    internal static class FlatJson
    {
        public static Dictionary<string, object> Parse(string s)
        {
            Dictionary<string, object> o = new Dictionary<string, object>();
            int i = 0;
            Expect(s, ref i, '{');
            Space(s, ref i);
            if (Peek(s, i) == '}')
            {
                i++;
            }
            else
            {
                while (true)
                {
                    Space(s, ref i);
                    string key = String(s, ref i);
                    Expect(s, ref i, ':');
                    o[key] = Value(s, ref i);
                    Space(s, ref i);
                    char c = Peek(s, i);
                    i++;
                    if (c == '}') break;
                    if (c != ',') throw new FormatException("expected ',' or '}' at " + (i - 1));
                }
            }
            Space(s, ref i);
            if (i != s.Length) throw new FormatException("trailing characters at " + i);
            return o;
        }

        /// <summary>A string member, or null when absent or null.</summary>
        public static string Text(Dictionary<string, object> o, string key)
        {
            object v;
            return o.TryGetValue(key, out v) ? v as string : null;
        }

        /// <summary>A boolean member; false when absent.</summary>
        public static bool Flag(Dictionary<string, object> o, string key)
        {
            object v;
            return o.TryGetValue(key, out v) && v is bool && (bool)v;
        }

        private static char Peek(string s, int i)
        {
            if (i >= s.Length) throw new FormatException("unexpected end");
            return s[i];
        }

        private static void Space(string s, ref int i)
        {
            while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
        }

        private static void Expect(string s, ref int i, char c)
        {
            Space(s, ref i);
            if (Peek(s, i) != c) throw new FormatException("expected '" + c + "' at " + i);
            i++;
        }

        private static bool Literal(string s, ref int i, string word)
        {
            if (string.CompareOrdinal(s, i, word, 0, word.Length) != 0) return false;
            i += word.Length;
            return true;
        }

        private static object Value(string s, ref int i)
        {
            Space(s, ref i);
            char c = Peek(s, i);
            if (c == '"') return String(s, ref i);
            if (c == '[')
            {
                List<string> items = new List<string>();
                i++;
                Space(s, ref i);
                if (Peek(s, i) == ']')
                {
                    i++;
                    return items;
                }
                while (true)
                {
                    Space(s, ref i);
                    items.Add(String(s, ref i));
                    Space(s, ref i);
                    char d = Peek(s, i);
                    i++;
                    if (d == ']') return items;
                    if (d != ',') throw new FormatException("expected ',' or ']' at " + (i - 1));
                }
            }
            if (Literal(s, ref i, "true")) return true;
            if (Literal(s, ref i, "false")) return false;
            if (Literal(s, ref i, "null")) return null;
            int start = i;
            while (i < s.Length && "+-0123456789.eE".IndexOf(s[i]) >= 0) i++;
            if (start == i) throw new FormatException("unexpected '" + c + "' at " + i);
            return s.Substring(start, i - start);
        }

        private static string String(string s, ref int i)
        {
            if (Peek(s, i) != '"') throw new FormatException("expected a string at " + i);
            i++;
            StringBuilder sb = new StringBuilder();
            while (true)
            {
                char c = Peek(s, i++);
                if (c == '"') return sb.ToString();
                if (c != '\\')
                {
                    sb.Append(c);
                    continue;
                }
                char e = Peek(s, i++);
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        if (i + 4 > s.Length) throw new FormatException("short \\u escape at " + i);
                        sb.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture));
                        i += 4;
                        break;
                    default:
                        throw new FormatException("bad escape '\\" + e + "' at " + (i - 1));
                }
            }
        }
    }
}
