// Every export of include/propwash.h, one DllImport each, plus the structs
// only the marshalling layer sees. Nothing here allocates or converts: the
// managed wrapper (PropwashSession, Log) owns strings, buffers and errors.
//
// Conventions that matter from C#:
// - size_t is UIntPtr; PwStr is a pointer + UIntPtr length into a pinned
//   UTF-8 byte[] (see Utf8Arg); bools are one byte (UnmanagedType.U1).
// - Session handles are PropwashSessionHandle (a SafeHandle): the marshaller
//   keeps the handle alive for the call and refuses a disposed one.
// - Buffers and arrays the library fills are passed as `ref` to their first
//   element (pinned for the call, no marshalling), with the capacity in
//   elements. Not as T[]: mono marshals an array of structs element by
//   element (measured: ReadPilots with a PilotState[6] took 13.5 us, by ref
//   0.6 us), and even a byte[] costs ~300 ns more than a ref to its first
//   byte. A capacity of 0 uses the IntPtr overload (NULL), which the ABI
//   allows.
// - The ABI has no callbacks: no delegate is ever handed to native code.
using System;
using System.Runtime.InteropServices;
using System.Security;

namespace Propwash
{
    /// <summary>A borrowed UTF-8 string: pointer + length, no NUL (<c>PwStr</c>).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PwStr
    {
        public IntPtr Ptr;
        public UIntPtr Len;

        public PwStr(IntPtr ptr, int len)
        {
            Ptr = ptr;
            Len = (UIntPtr)(uint)len;
        }
    }

    /// <summary><c>PwHostOptions</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PwHostOptions
    {
        public PwStr BindAddr;
        public PwStr GameVersion;
        public PwStr PlayerName;
        public PwStr PlayerId;
        public uint PilotHz;
        public uint SpectatorHz;
        public uint MaxPilots;
        public uint MaxSpectators;
        public PwStr Password;
        [MarshalAs(UnmanagedType.U1)]
        public bool RequireVerified;
        public PwStr CoordinatorAddr;
        public PwStr ListingJson;
        public uint MaxPlayers;
        [MarshalAs(UnmanagedType.U1)]
        public bool Open;
        [MarshalAs(UnmanagedType.U1)]
        public bool Visible;
        [MarshalAs(UnmanagedType.U1)]
        public bool CleanupCacheOnLeave;
        public PwStr RoomProps;
        public PwStr PlayerProps;
    }

    /// <summary><c>PwJoinOptions</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PwJoinOptions
    {
        public PwStr HostAddr;
        public PwStr BindAddr;
        public PwStr GameVersion;
        public PwStr PlayerName;
        public PwStr PlayerId;
        public uint Role;
        [MarshalAs(UnmanagedType.U1)]
        public bool SpectateIfFull;
        public uint SendHz;
        public PwStr MapsDir;
        public PwStr TrackCacheDir;
        public PwStr Password;
        public PwStr CoordinatorAddr;
        public PwStr SessionId;
        public PwStr PlayerProps;
    }

    /// <summary><c>PwEvent</c>: the fixed part of an event.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PwEvent
    {
        public EventKind Kind;
        public uint Reason;
        public Role Role;
        public uint Actor;
        public uint Target;
        public uint Master;
        public uint Request;
        public byte Code;
        [MarshalAs(UnmanagedType.U1)]
        public bool Downloaded;
        [MarshalAs(UnmanagedType.U1)]
        public bool Cas;
        public UIntPtr DataLen;
        public ulong Received;
        public ulong Total;
    }

    /// <summary><c>PwBackendOptions</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PwBackendOptions
    {
        public PwStr GameDir;
        public PwStr GameVersion;
        [MarshalAs(UnmanagedType.U1)]
        public bool OfflineLicensed;
        public PwStr RoutesJson;
    }

    [SuppressUnmanagedCodeSecurity]
    internal static class NativeMethods
    {
        /// <summary>propwash.dll on Windows, libpropwash.so on Linux, libpropwash.dylib on macOS.</summary>
        internal const string Lib = "propwash";

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_version")]
        internal static extern IntPtr pw_version();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_result_message")]
        internal static extern ResultCode pw_result_message(uint code, ref byte buf, UIntPtr cap, out UIntPtr outLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_last_error")]
        internal static extern ResultCode pw_last_error(ref byte buf, UIntPtr cap, out UIntPtr outLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_log_read")]
        internal static extern ResultCode pw_log_read(ref byte buf, UIntPtr cap, out UIntPtr outLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_log_set_level")]
        internal static extern ResultCode pw_log_set_level(uint level);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_host_options_default")]
        internal static extern void pw_host_options_default(out PwHostOptions options);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_join_options_default")]
        internal static extern void pw_join_options_default(out PwJoinOptions options);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_host")]
        internal static extern ResultCode pw_session_host([In] ref PwHostOptions options, out PropwashSessionHandle session);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_join")]
        internal static extern ResultCode pw_session_join([In] ref PwJoinOptions options, out PropwashSessionHandle session);

        /// <summary>Only PropwashSessionHandle.ReleaseHandle calls this (with the raw pointer).</summary>
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_free")]
        internal static extern void pw_session_free(IntPtr session);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_leave")]
        internal static extern ResultCode pw_session_leave(PropwashSessionHandle session);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_info")]
        internal static extern ResultCode pw_session_info(PropwashSessionHandle session, out SessionInfo info);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_push_local")]
        internal static extern ResultCode pw_session_push_local(PropwashSessionHandle session, [In] ref PilotFrame frame);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_read_pilots")]
        internal static extern ResultCode pw_session_read_pilots(PropwashSessionHandle session, ref PilotState first, UIntPtr cap, out UIntPtr count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_read_pilots")]
        internal static extern ResultCode pw_session_read_pilots(PropwashSessionHandle session, IntPtr none, UIntPtr cap, out UIntPtr count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_read_pilots_interpolated")]
        internal static extern ResultCode pw_session_read_pilots_interpolated(PropwashSessionHandle session, double delayMs, ref PilotState first, UIntPtr cap, out UIntPtr count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_read_pilots_interpolated")]
        internal static extern ResultCode pw_session_read_pilots_interpolated(PropwashSessionHandle session, double delayMs, IntPtr none, UIntPtr cap, out UIntPtr count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_follow")]
        internal static extern ResultCode pw_session_follow(PropwashSessionHandle session, uint actor);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_host_time")]
        internal static extern ResultCode pw_session_host_time(PropwashSessionHandle session, out double seconds);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_stats")]
        internal static extern ResultCode pw_session_stats(PropwashSessionHandle session, ref PeerStats first, UIntPtr cap, out UIntPtr count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_stats")]
        internal static extern ResultCode pw_session_stats(PropwashSessionHandle session, IntPtr none, UIntPtr cap, out UIntPtr count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_counters")]
        internal static extern ResultCode pw_session_counters(PropwashSessionHandle session, out SessionCounters counters);

        /// <summary>With a payload: <paramref name="payload"/> is the first byte (an array element, pinned for the call).</summary>
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_send_event")]
        internal static extern ResultCode pw_session_send_event(PropwashSessionHandle session, byte code, uint target, uint actor, ref byte payload, UIntPtr len);

        /// <summary>Without a payload (NULL, 0).</summary>
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_send_event")]
        internal static extern ResultCode pw_session_send_event(PropwashSessionHandle session, byte code, uint target, uint actor, IntPtr payload, UIntPtr len);

        /// <summary>
        /// Targets, keys and payload are pinned arrays described by pointer and count (IntPtr.Zero
        /// with 0 for none); see PropwashSession.Raise.
        /// </summary>
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_raise_event")]
        internal static extern ResultCode pw_session_raise_event(PropwashSessionHandle session, [In] ref RaiseOptions options, IntPtr targets, UIntPtr targetCount, PwStr keys, IntPtr payload, UIntPtr len);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_set_properties")]
        internal static extern ResultCode pw_session_set_properties(PropwashSessionHandle session, uint request, uint target, PwStr changes, IntPtr settings, PwStr expected, IntPtr expectedSettings);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_change_groups")]
        internal static extern ResultCode pw_session_change_groups(PropwashSessionHandle session, uint flags, IntPtr remove, UIntPtr nRemove, IntPtr add, UIntPtr nAdd);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_poll_event")]
        internal static extern ResultCode pw_session_poll_event(PropwashSessionHandle session, out PwEvent ev, ref byte buf, UIntPtr cap, out UIntPtr outLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_set_room_property")]
        internal static extern ResultCode pw_session_set_room_property(PropwashSessionHandle session, PwStr key, PwStr value, [MarshalAs(UnmanagedType.U1)] bool remove);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_set_room_properties_json")]
        internal static extern ResultCode pw_session_set_room_properties_json(PropwashSessionHandle session, PwStr changesJson);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_set_player_properties_json")]
        internal static extern ResultCode pw_session_set_player_properties_json(PropwashSessionHandle session, PwStr changesJson);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_room_properties_json")]
        internal static extern ResultCode pw_session_room_properties_json(PropwashSessionHandle session, ref byte buf, UIntPtr cap, out UIntPtr outLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_set_player_property")]
        internal static extern ResultCode pw_session_set_player_property(PropwashSessionHandle session, PwStr key, PwStr value, [MarshalAs(UnmanagedType.U1)] bool remove);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_get_room_property")]
        internal static extern ResultCode pw_session_get_room_property(PropwashSessionHandle session, PwStr key, ref byte buf, UIntPtr cap, out UIntPtr outLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_get_player_property")]
        internal static extern ResultCode pw_session_get_player_property(PropwashSessionHandle session, uint actor, PwStr key, ref byte buf, UIntPtr cap, out UIntPtr outLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_serve_track")]
        internal static extern ResultCode pw_session_serve_track(PropwashSessionHandle session, PwStr dir, PwStr mapId, PwStr trackId, [MarshalAs(UnmanagedType.U1)] bool allowDownload);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_players_json")]
        internal static extern ResultCode pw_session_players_json(PropwashSessionHandle session, ref byte buf, UIntPtr cap, out UIntPtr outLen);

        // ---- identity (PropwashIdentity in Identity.cs) ------------------------
        // Process-wide, no handle: pw_identity_start once, then JSON reads and
        // the player-state.json sync. PwIdentityOptions is declared in Identity.cs.

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_identity_options_default")]
        internal static extern void pw_identity_options_default(out PwIdentityOptions options);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_identity_start")]
        internal static extern ResultCode pw_identity_start([In] ref PwIdentityOptions options);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_identity_json")]
        internal static extern ResultCode pw_identity_json(ref byte buf, UIntPtr cap, out UIntPtr outLen);

        /// <summary>Asks for the length only (NULL, 0).</summary>
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_identity_json")]
        internal static extern ResultCode pw_identity_json(IntPtr none, UIntPtr cap, out UIntPtr outLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_identity_sync_player_state")]
        internal static extern ResultCode pw_identity_sync_player_state(PwStr gameDir, ref byte buf, UIntPtr cap, out UIntPtr outLen);

        // ---- lobby (PropwashLobby in Lobby.cs, and the session's reports) -----

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_lobby_open")]
        internal static extern ResultCode pw_lobby_open(PwStr coordinatorAddr, PwStr gameVersion, out PropwashLobbyHandle lobby);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_lobby_list")]
        internal static extern ResultCode pw_lobby_list(PropwashLobbyHandle lobby, PwStr queryJson, out uint requestId);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_lobby_poll")]
        internal static extern ResultCode pw_lobby_poll(PropwashLobbyHandle lobby, ref byte buf, UIntPtr cap, out UIntPtr outLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_lobby_free")]
        internal static extern void pw_lobby_free(IntPtr lobby);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_poll_lobby_event")]
        internal static extern ResultCode pw_session_poll_lobby_event(PropwashSessionHandle session, ref byte buf, UIntPtr cap, out UIntPtr outLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_session_update_listing")]
        internal static extern ResultCode pw_session_update_listing(PropwashSessionHandle session, PwStr listingJson);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_backend_options_default")]
        internal static extern void pw_backend_options_default(out PwBackendOptions options);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_backend_start")]
        internal static extern ResultCode pw_backend_start(ref PwBackendOptions options, out PropwashBackendHandle backend);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_backend_port")]
        internal static extern ResultCode pw_backend_port(PropwashBackendHandle backend, out ushort port);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, EntryPoint = "pw_backend_free")]
        internal static extern void pw_backend_free(IntPtr backend);
    }
}
