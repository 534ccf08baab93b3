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
            Dictionary<string, object> o = Shim.Json.ParseObject(json);
            string steamId = Shim.Json.Text(o, "steam_id");
            return new PlayerIdentity
            {
                SteamId = steamId == null ? (ulong?)null : ulong.Parse(steamId, NumberStyles.None, CultureInfo.InvariantCulture),
                Name = Shim.Json.Text(o, "name") ?? "",
                AvatarUrl = Shim.Json.Text(o, "avatar_url"),
                PlayerId = Shim.Json.Text(o, "player_id") ?? "",
                Verified = Shim.Json.Flag(o, "verified"),
                Source = Shim.Json.Text(o, "source") ?? "",
                Note = Shim.Json.Text(o, "note"),
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
            Dictionary<string, object> o = Shim.Json.ParseObject(json);
            List<object> changed = o.ContainsKey("changed") ? o["changed"] as List<object> : null;
            return new PlayerStateSync
            {
                Path = Shim.Json.Text(o, "path") ?? "",
                Changed = changed == null ? new string[0] : changed.ConvertAll(c => c as string).ToArray(),
                Written = Shim.Json.Flag(o, "written"),
                Backup = Shim.Json.Text(o, "backup"),
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
}
