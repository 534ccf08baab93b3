// A hosted or joined room, in C# idioms over the C ABI. Use it from one
// thread (Unity's main thread): the library answers another thread's
// concurrent call with BUSY, which surfaces here as a PropwashException.
//
// Errors: every failed call throws PropwashException (code + pw_last_error),
// except these answers, which are return values:
//   - EMPTY (nothing queued, property absent): TryPollEvent / TryGet* false;
//   - QUEUE_FULL and CLOSED on fire-and-forget requests (PushLocal,
//     SendEvent, Set*/Remove*Property, Follow): false, the request dropped,
//     like Photon's RaiseEvent returning false. A CLOSED session also
//     delivers an EventKind.Closed event, which is where to react.
// A disposed session throws ObjectDisposedException.
//
// Per-tick calls (PushLocal, ReadPilots, ReadPilotsInterpolated, HostTime,
// Info, Stats, an empty TryPollEvent) do not allocate: arrays are the
// caller's and go to native code as a pinned reference to their first
// element; buffers the wrapper owns are reused and grow only when the
// library reports BUFFER_TOO_SMALL.
using System;
using System.Runtime.InteropServices;
using System.Text;

namespace Propwash
{
    public sealed class PropwashSession : IDisposable
    {
        /// <summary>First size of the reusable event buffer; it grows to the largest event seen.</summary>
        internal const int InitialEventBufferBytes = 256;

        private readonly PropwashSessionHandle handle;
        private byte[] eventBuffer = new byte[InitialEventBufferBytes];
        private byte[] textBuffer = new byte[256];

        private PropwashSession(PropwashSessionHandle handle)
        {
            this.handle = handle;
        }

        /// <summary>The library's version, e.g. <c>0.1.0</c>.</summary>
        public static string Version
        {
            get { return Marshal.PtrToStringAnsi(NativeMethods.pw_version()); }
        }

        /// <summary>Opens a room: this game becomes the listen server and pilot 1.</summary>
        public static PropwashSession Host(HostOptions options)
        {
            if (options == null)
            {
                throw new ArgumentNullException("options");
            }
            PwHostOptions o;
            NativeMethods.pw_host_options_default(out o);
            o.PilotHz = Unsigned(options.PilotHz, "PilotHz");
            o.SpectatorHz = Unsigned(options.SpectatorHz, "SpectatorHz");
            o.MaxPilots = Unsigned(options.MaxPilots, "MaxPilots");
            o.MaxSpectators = Unsigned(options.MaxSpectators, "MaxSpectators");
            using (Utf8Arg bind = new Utf8Arg(options.BindAddress))
            using (Utf8Arg version = new Utf8Arg(options.GameVersion))
            using (Utf8Arg name = new Utf8Arg(options.PlayerName))
            using (Utf8Arg id = new Utf8Arg(options.PlayerId))
            using (Utf8Arg password = new Utf8Arg(options.Password))
            using (Utf8Arg coordinator = new Utf8Arg(options.CoordinatorAddress))
            using (Utf8Arg listing = new Utf8Arg(options.ListingJson))
            using (BytesArg roomProps = new BytesArg(options.RoomProps))
            using (BytesArg playerProps = new BytesArg(options.PlayerProps))
            {
                o.MaxPlayers = Unsigned(options.MaxPlayers, "MaxPlayers");
                o.Open = options.Open;
                o.Visible = options.Visible;
                o.CleanupCacheOnLeave = options.CleanupCacheOnLeave;
                o.RoomProps = roomProps.Str;
                o.PlayerProps = playerProps.Str;
                o.BindAddr = bind.Str;
                o.GameVersion = version.Str;
                o.PlayerName = name.Str;
                o.PlayerId = id.Str;
                o.Password = password.Str;
                o.RequireVerified = options.RequireVerified;
                o.CoordinatorAddr = coordinator.Str;
                o.ListingJson = listing.Str;
                PropwashSessionHandle h;
                ResultCode r = NativeMethods.pw_session_host(ref o, out h);
                return Opened(r, h, "pw_session_host");
            }
        }

        /// <summary>Joins a room. The session starts Connecting: poll for Welcomed or Refused.</summary>
        public static PropwashSession Join(JoinOptions options)
        {
            if (options == null)
            {
                throw new ArgumentNullException("options");
            }
            PwJoinOptions o;
            NativeMethods.pw_join_options_default(out o);
            o.Role = (uint)options.Role;
            o.SpectateIfFull = options.SpectateIfFull;
            o.SendHz = Unsigned(options.SendHz, "SendHz");
            using (Utf8Arg host = new Utf8Arg(options.HostAddress))
            using (Utf8Arg bind = new Utf8Arg(options.BindAddress))
            using (Utf8Arg version = new Utf8Arg(options.GameVersion))
            using (Utf8Arg name = new Utf8Arg(options.PlayerName))
            using (Utf8Arg id = new Utf8Arg(options.PlayerId))
            using (Utf8Arg maps = new Utf8Arg(options.MapsDir))
            using (Utf8Arg cache = new Utf8Arg(options.TrackCacheDir))
            using (Utf8Arg password = new Utf8Arg(options.Password))
            using (Utf8Arg coordinator = new Utf8Arg(options.CoordinatorAddress))
            using (Utf8Arg sessionId = new Utf8Arg(options.SessionId))
            using (BytesArg playerProps = new BytesArg(options.PlayerProps))
            {
                o.PlayerProps = playerProps.Str;
                o.Password = password.Str;
                o.CoordinatorAddr = coordinator.Str;
                o.SessionId = sessionId.Str;
                o.HostAddr = host.Str;
                o.BindAddr = bind.Str;
                o.GameVersion = version.Str;
                o.PlayerName = name.Str;
                o.PlayerId = id.Str;
                o.MapsDir = maps.Str;
                o.TrackCacheDir = cache.Str;
                PropwashSessionHandle h;
                ResultCode r = NativeMethods.pw_session_join(ref o, out h);
                return Opened(r, h, "pw_session_join");
            }
        }

        private static PropwashSession Opened(ResultCode r, PropwashSessionHandle h, string call)
        {
            if (r != ResultCode.Ok)
            {
                // On failure *out is untouched: the handle is invalid and its
                // Dispose frees nothing.
                if (h != null)
                {
                    h.Dispose();
                }
                throw PropwashException.From(r, call);
            }
            return new PropwashSession(h);
        }

        private static uint Unsigned(int value, string name)
        {
            if (value < 0)
            {
                throw new ArgumentOutOfRangeException(name, value, name + " must not be negative");
            }
            return (uint)value;
        }

        /// <summary>True once Dispose ran.</summary>
        public bool IsDisposed
        {
            get { return handle.IsClosed; }
        }

        /// <summary>The owning handle (for tests that compare marshalling costs).</summary>
        internal PropwashSessionHandle NativeHandle
        {
            get { return handle; }
        }

        /// <summary>Current size of the reusable event buffer (for tests and diagnostics).</summary>
        internal int EventBufferCapacity
        {
            get { return eventBuffer.Length; }
        }

        private void ThrowIfDisposed()
        {
            if (handle.IsClosed)
            {
                throw new ObjectDisposedException("PropwashSession");
            }
        }

        /// <summary>QUEUE_FULL and CLOSED are answers for fire-and-forget requests.</summary>
        private static bool Queued(ResultCode r, string call)
        {
            if (r == ResultCode.Ok)
            {
                return true;
            }
            if (r == ResultCode.QueueFull || r == ResultCode.Closed)
            {
                return false;
            }
            throw PropwashException.From(r, call);
        }

        /// <summary>
        /// Queues our pilot's frame for this physics tick (FixedUpdate). False if it
        /// was dropped: the network thread is a whole queue behind, or the session is closed.
        /// </summary>
        public bool PushLocal(in PilotFrame frame)
        {
            ThrowIfDisposed();
            PilotFrame copy = frame;
            return Queued(NativeMethods.pw_session_push_local(handle, ref copy), "pw_session_push_local");
        }

        /// <summary>
        /// Writes every remote pilot's newest frame into <paramref name="buffer"/> and
        /// returns how many. An array of <see cref="Limits.MaxPilots"/> always suffices;
        /// a smaller one that is too small throws (BufferTooSmall, nothing written).
        /// </summary>
        public int ReadPilots(PilotState[] buffer)
        {
            ThrowIfDisposed();
            if (buffer == null)
            {
                throw new ArgumentNullException("buffer");
            }
            UIntPtr count;
            ResultCode r = buffer.Length == 0
                ? NativeMethods.pw_session_read_pilots(handle, IntPtr.Zero, UIntPtr.Zero, out count)
                : NativeMethods.pw_session_read_pilots(handle, ref buffer[0], (UIntPtr)(uint)buffer.Length, out count);
            PropwashException.Check(r, "pw_session_read_pilots");
            return (int)count;
        }

        /// <summary>
        /// Like <see cref="ReadPilots"/>, each pilot as at <paramref name="delayMs"/> ago on
        /// the host clock (interpolated; briefly extrapolated when late). A negative delay
        /// uses the default of two snapshot intervals.
        /// </summary>
        public int ReadPilotsInterpolated(double delayMs, PilotState[] buffer)
        {
            ThrowIfDisposed();
            if (buffer == null)
            {
                throw new ArgumentNullException("buffer");
            }
            UIntPtr count;
            ResultCode r = buffer.Length == 0
                ? NativeMethods.pw_session_read_pilots_interpolated(handle, delayMs, IntPtr.Zero, UIntPtr.Zero, out count)
                : NativeMethods.pw_session_read_pilots_interpolated(handle, delayMs, ref buffer[0], (UIntPtr)(uint)buffer.Length, out count);
            PropwashException.Check(r, "pw_session_read_pilots_interpolated");
            return (int)count;
        }

        /// <summary>
        /// Raises a game event as the room's game server routes it (Photon's RaiseEvent):
        /// <paramref name="targets"/> (the first <paramref name="targetCount"/>) when any, else the
        /// interest group, else <see cref="RaiseOptions.Receivers"/>; cached as the options say.
        /// <paramref name="keys"/> is a filter-keys layout (<see cref="RoomCodec.FilterKeys"/>; null:
        /// none), <paramref name="payload"/> the content as the game serialized it (null: none). All
        /// of it is copied during the call. False if it was dropped (queue full, closed).
        /// </summary>
        public bool Raise(RaiseOptions options, uint[] targets, int targetCount, byte[] keys, byte[] payload, int offset, int count)
        {
            ThrowIfDisposed();
            if (targetCount < 0 || targetCount > (targets == null ? 0 : targets.Length))
            {
                throw new ArgumentOutOfRangeException("targetCount", targetCount, "more targets than the array holds");
            }
            if (offset < 0 || count < 0 || (payload == null ? offset != 0 || count != 0 : offset > payload.Length - count))
            {
                throw new ArgumentOutOfRangeException("count", "offset " + offset + " and count " + count + " are outside the payload");
            }
            GCHandle t = targetCount > 0 ? GCHandle.Alloc(targets, GCHandleType.Pinned) : default(GCHandle);
            GCHandle p = count > 0 ? GCHandle.Alloc(payload, GCHandleType.Pinned) : default(GCHandle);
            try
            {
                using (BytesArg k = new BytesArg(keys))
                {
                    IntPtr tp = t.IsAllocated ? t.AddrOfPinnedObject() : IntPtr.Zero;
                    IntPtr pp = p.IsAllocated ? p.AddrOfPinnedObject() + offset : IntPtr.Zero;
                    ResultCode r = NativeMethods.pw_session_raise_event(handle, ref options, tp, (UIntPtr)(uint)targetCount, k.Str, pp, (UIntPtr)(uint)count);
                    return Queued(r, "pw_session_raise_event");
                }
            }
            finally
            {
                if (t.IsAllocated) t.Free();
                if (p.IsAllocated) p.Free();
            }
        }

        /// <summary>
        /// Changes properties (Photon's SetProperties): the room's (<paramref name="target"/> 0), ours
        /// (<see cref="Limits.ActorSelf"/>) or another player's. <paramref name="changes"/> and
        /// <paramref name="expected"/> are props layouts (<see cref="RoomCodec.Props"/>; null: none);
        /// settings with an empty mask are none. With expectations it is a check-and-set the host
        /// decides. A refusal arrives as <see cref="EventKind.PropertiesRefused"/> with
        /// <paramref name="request"/>. False if dropped (queue full, closed).
        /// </summary>
        public bool SetProperties(uint request, uint target, byte[] changes, SettingsChange settings, byte[] expected, SettingsChange expectedSettings)
        {
            ThrowIfDisposed();
            IntPtr s = Unmanaged(settings), es = Unmanaged(expectedSettings);
            try
            {
                using (BytesArg c = new BytesArg(changes))
                using (BytesArg x = new BytesArg(expected))
                {
                    ResultCode r = NativeMethods.pw_session_set_properties(handle, request, target, c.Str, s, x.Str, es);
                    return Queued(r, "pw_session_set_properties");
                }
            }
            finally
            {
                if (s != IntPtr.Zero) Marshal.FreeHGlobal(s);
                if (es != IntPtr.Zero) Marshal.FreeHGlobal(es);
            }
        }

        private static IntPtr Unmanaged(SettingsChange s)
        {
            if (s.IsEmpty)
            {
                return IntPtr.Zero;
            }
            IntPtr p = Marshal.AllocHGlobal(Marshal.SizeOf(typeof(SettingsChange)));
            Marshal.StructureToPtr(s, p, false);
            return p;
        }

        /// <summary>
        /// Changes the interest groups we receive (Photon's ChangeGroups): null leaves that side
        /// alone, an empty array means every group. False if dropped.
        /// </summary>
        public bool ChangeGroups(byte[] remove, byte[] add)
        {
            ThrowIfDisposed();
            uint flags = (remove != null ? 1u : 0u) | (add != null ? 2u : 0u);
            using (BytesArg r = new BytesArg(remove))
            using (BytesArg a = new BytesArg(add))
            {
                ResultCode res = NativeMethods.pw_session_change_groups(handle, flags, r.Ptr, r.Str.Len, a.Ptr, a.Str.Len);
                return Queued(res, "pw_session_change_groups");
            }
        }

        /// <summary>Raises a game event with the whole of <paramref name="payload"/> (null: no payload).</summary>
        public bool SendEvent(byte code, EventTarget target, uint actor, byte[] payload)
        {
            return SendEvent(code, target, actor, payload, 0, payload == null ? 0 : payload.Length);
        }

        /// <summary>
        /// Raises a game event (like Photon's RaiseEvent): reliable, ordered, once per
        /// receiver. <paramref name="actor"/> is used only with EventTarget.Actor. The
        /// bytes are copied during the call. False if it was dropped (queue full, closed).
        /// </summary>
        public bool SendEvent(byte code, EventTarget target, uint actor, byte[] payload, int offset, int count)
        {
            ThrowIfDisposed();
            if (offset < 0 || count < 0 || (payload == null ? offset != 0 || count != 0 : offset > payload.Length - count))
            {
                throw new ArgumentOutOfRangeException("count", "offset " + offset + " and count " + count + " are outside the payload");
            }
            ResultCode r = count == 0
                ? NativeMethods.pw_session_send_event(handle, code, (uint)target, actor, IntPtr.Zero, UIntPtr.Zero)
                : NativeMethods.pw_session_send_event(handle, code, (uint)target, actor, ref payload[offset], (UIntPtr)(uint)count);
            return Queued(r, "pw_session_send_event");
        }

        /// <summary>
        /// Takes the next event; false when none is queued. Poll until false every frame
        /// (Update). The event's data lives in a reusable buffer until the next poll.
        /// </summary>
        public bool TryPollEvent(out SessionEvent ev)
        {
            ThrowIfDisposed();
            // An event that does not fit stays first in line; the buffer grows to
            // the size the library asks for and the poll is repeated.
            for (int attempt = 0; attempt < 4; attempt++)
            {
                PwEvent header;
                UIntPtr len;
                ResultCode r = NativeMethods.pw_session_poll_event(handle, out header, ref eventBuffer[0], (UIntPtr)(uint)eventBuffer.Length, out len);
                switch (r)
                {
                    case ResultCode.Ok:
                        ev = new SessionEvent(header, new ArraySegment<byte>(eventBuffer, 0, (int)len));
                        return true;
                    case ResultCode.Empty:
                        ev = default(SessionEvent);
                        return false;
                    case ResultCode.BufferTooSmall:
                        eventBuffer = new byte[Math.Max((int)len, eventBuffer.Length * 2)];
                        continue;
                    default:
                        throw PropwashException.From(r, "pw_session_poll_event");
                }
            }
            throw new PropwashException(ResultCode.BufferTooSmall, "pw_session_poll_event", "an event kept outgrowing the buffer");
        }

        /// <summary>Sets a room property given as text (any player may). False if dropped.</summary>
        public bool SetRoomProperty(string key, string value)
        {
            return ChangeProperty(true, key, value, false);
        }

        /// <summary>Deletes a room property. False if dropped.</summary>
        public bool RemoveRoomProperty(string key)
        {
            return ChangeProperty(true, key, null, true);
        }

        /// <summary>Sets one of our own player properties. False if dropped.</summary>
        public bool SetPlayerProperty(string key, string value)
        {
            return ChangeProperty(false, key, value, false);
        }

        /// <summary>Deletes one of our own player properties. False if dropped.</summary>
        public bool RemovePlayerProperty(string key)
        {
            return ChangeProperty(false, key, null, true);
        }

        /// <summary>
        /// Changes several room properties at once: <paramref name="changesJson"/> is a JSON object of
        /// key to string (set) or null (remove). Everyone gets one PropertiesChanged with all of them.
        /// False if dropped.
        /// </summary>
        public bool SetRoomPropertiesJson(string changesJson)
        {
            ThrowIfDisposed();
            using (Utf8Arg c = new Utf8Arg(changesJson))
            {
                return Queued(NativeMethods.pw_session_set_room_properties_json(handle, c.Str), "pw_session_set_room_properties_json");
            }
        }

        /// <summary>Changes several of our own player properties at once (JSON as in <see cref="SetRoomPropertiesJson"/>). False if dropped.</summary>
        public bool SetPlayerPropertiesJson(string changesJson)
        {
            ThrowIfDisposed();
            using (Utf8Arg c = new Utf8Arg(changesJson))
            {
                return Queued(NativeMethods.pw_session_set_player_properties_json(handle, c.Str), "pw_session_set_player_properties_json");
            }
        }

        /// <summary>Every room property as one JSON object, for people and logs (bytes that are not text show as 0x and hex).</summary>
        public string RoomPropertiesJson()
        {
            ThrowIfDisposed();
            for (int attempt = 0; attempt < 4; attempt++)
            {
                UIntPtr len;
                ResultCode r = NativeMethods.pw_session_room_properties_json(handle, ref textBuffer[0], (UIntPtr)(uint)textBuffer.Length, out len);
                if (r == ResultCode.Ok)
                {
                    return Encoding.UTF8.GetString(textBuffer, 0, (int)len);
                }
                if (r != ResultCode.BufferTooSmall)
                {
                    throw PropwashException.From(r, "pw_session_room_properties_json");
                }
                textBuffer = new byte[Math.Max((int)len, textBuffer.Length * 2)];
            }
            throw new PropwashException(ResultCode.BufferTooSmall, "pw_session_room_properties_json", "the room's properties kept outgrowing the buffer");
        }

        private bool ChangeProperty(bool room, string key, string value, bool remove)
        {
            ThrowIfDisposed();
            if (key == null)
            {
                throw new ArgumentNullException("key");
            }
            using (Utf8Arg k = new Utf8Arg(key))
            using (Utf8Arg v = new Utf8Arg(value))
            {
                if (room)
                {
                    return Queued(NativeMethods.pw_session_set_room_property(handle, k.Str, v.Str, remove), "pw_session_set_room_property");
                }
                return Queued(NativeMethods.pw_session_set_player_property(handle, k.Str, v.Str, remove), "pw_session_set_player_property");
            }
        }

        /// <summary>
        /// Host only: serves the custom track in <paramref name="dir"/> (null or "" stops serving).
        /// Returns at once; the folder is hashed on a helper thread, then EventKind.TrackReady
        /// (or TrackFailed) arrives. Not every frame: each call hashes the whole folder.
        /// False if the session is closed.
        /// </summary>
        public bool ServeTrack(string dir, string mapId, string trackId, bool allowDownload)
        {
            ThrowIfDisposed();
            using (Utf8Arg d = new Utf8Arg(dir))
            using (Utf8Arg m = new Utf8Arg(mapId))
            using (Utf8Arg t = new Utf8Arg(trackId))
            {
                return Queued(NativeMethods.pw_session_serve_track(handle, d.Str, m.Str, t.Str, allowDownload), "pw_session_serve_track");
            }
        }

        /// <summary>Reads a room property as last published; false if absent.</summary>
        public bool TryGetRoomProperty(string key, out string value)
        {
            return TryGetProperty(true, 0, key, out value);
        }

        /// <summary>Reads player <paramref name="actor"/>'s property (0: ours); false if absent or not seated.</summary>
        public bool TryGetPlayerProperty(uint actor, string key, out string value)
        {
            return TryGetProperty(false, actor, key, out value);
        }

        private bool TryGetProperty(bool room, uint actor, string key, out string value)
        {
            ThrowIfDisposed();
            if (key == null)
            {
                throw new ArgumentNullException("key");
            }
            using (Utf8Arg k = new Utf8Arg(key))
            {
                for (int attempt = 0; attempt < 4; attempt++)
                {
                    UIntPtr len;
                    ResultCode r = room
                        ? NativeMethods.pw_session_get_room_property(handle, k.Str, ref textBuffer[0], (UIntPtr)(uint)textBuffer.Length, out len)
                        : NativeMethods.pw_session_get_player_property(handle, actor, k.Str, ref textBuffer[0], (UIntPtr)(uint)textBuffer.Length, out len);
                    switch (r)
                    {
                        case ResultCode.Ok:
                            value = Encoding.UTF8.GetString(textBuffer, 0, (int)len);
                            return true;
                        case ResultCode.Empty:
                            value = null;
                            return false;
                        case ResultCode.BufferTooSmall:
                            textBuffer = new byte[Math.Max((int)len, textBuffer.Length * 2)];
                            continue;
                        default:
                            throw PropwashException.From(r, room ? "pw_session_get_room_property" : "pw_session_get_player_property");
                    }
                }
            }
            throw new PropwashException(ResultCode.BufferTooSmall, "property read", "the value kept outgrowing the buffer");
        }

        /// <summary>
        /// Everyone seated, us included, as a JSON array (see PlayerJoined's data).
        /// Allocates: call it when membership changes, not every frame.
        /// </summary>
        public string PlayersJson()
        {
            ThrowIfDisposed();
            // The list may grow between "how big?" and the next call: retry a few times.
            for (int attempt = 0; attempt < 4; attempt++)
            {
                UIntPtr len;
                ResultCode r = NativeMethods.pw_session_players_json(handle, ref textBuffer[0], (UIntPtr)(uint)textBuffer.Length, out len);
                if (r == ResultCode.Ok)
                {
                    return Encoding.UTF8.GetString(textBuffer, 0, (int)len);
                }
                if (r != ResultCode.BufferTooSmall)
                {
                    throw PropwashException.From(r, "pw_session_players_json");
                }
                textBuffer = new byte[Math.Max((int)len, textBuffer.Length * 2)];
            }
            throw new PropwashException(ResultCode.BufferTooSmall, "pw_session_players_json", "the player list kept outgrowing the buffer");
        }

        /// <summary>
        /// The next report of the room's lobby side as a JSON object (<c>kind</c>: registered,
        /// hosting_failed, update_refused, coordinator_unreachable, introduced, connected,
        /// join_failed; see propwash.h). False when none waits.
        /// </summary>
        public bool TryPollLobbyEvent(out string json)
        {
            ThrowIfDisposed();
            for (;;)
            {
                UIntPtr len;
                ResultCode r = NativeMethods.pw_session_poll_lobby_event(handle, ref textBuffer[0], (UIntPtr)(uint)textBuffer.Length, out len);
                if (r == ResultCode.Ok)
                {
                    json = Encoding.UTF8.GetString(textBuffer, 0, (int)len);
                    return true;
                }
                if (r == ResultCode.Empty)
                {
                    json = null;
                    return false;
                }
                if (r != ResultCode.BufferTooSmall)
                {
                    throw PropwashException.From(r, "pw_session_poll_lobby_event");
                }
                // The report is kept: grow and ask again.
                textBuffer = new byte[Math.Max((int)len, textBuffer.Length * 2)];
            }
        }

        /// <summary>Host of a listed room: replaces the game's part of its listing (same JSON as <see cref="HostOptions.ListingJson"/>).</summary>
        public void UpdateListing(string listingJson)
        {
            ThrowIfDisposed();
            using (Utf8Arg l = new Utf8Arg(listingJson))
            {
                ResultCode r = NativeMethods.pw_session_update_listing(handle, l.Str);
                if (r != ResultCode.Ok)
                {
                    throw PropwashException.From(r, "pw_session_update_listing");
                }
            }
        }

        /// <summary>Spectators: receive <paramref name="actor"/>'s frames at the full pilot rate (0 = stop). False if dropped.</summary>
        public bool Follow(uint actor)
        {
            ThrowIfDisposed();
            return Queued(NativeMethods.pw_session_follow(handle, actor), "pw_session_follow");
        }

        /// <summary>The host clock in seconds (like PhotonNetwork.Time); a client's is meaningful once Info().ClockSynced.</summary>
        public double HostTime()
        {
            ThrowIfDisposed();
            double seconds;
            PropwashException.Check(NativeMethods.pw_session_host_time(handle, out seconds), "pw_session_host_time");
            return seconds;
        }

        /// <summary>Writes link statistics into <paramref name="buffer"/> (one per peer on a host, one on a client); returns how many.</summary>
        public int Stats(PeerStats[] buffer)
        {
            ThrowIfDisposed();
            if (buffer == null)
            {
                throw new ArgumentNullException("buffer");
            }
            UIntPtr count;
            ResultCode r = buffer.Length == 0
                ? NativeMethods.pw_session_stats(handle, IntPtr.Zero, UIntPtr.Zero, out count)
                : NativeMethods.pw_session_stats(handle, ref buffer[0], (UIntPtr)(uint)buffer.Length, out count);
            PropwashException.Check(r, "pw_session_stats");
            return (int)count;
        }

        /// <summary>The session's counters (datagrams dropped and why, events the game left unread).</summary>
        public SessionCounters Counters()
        {
            ThrowIfDisposed();
            SessionCounters c;
            PropwashException.Check(NativeMethods.pw_session_counters(handle, out c), "pw_session_counters");
            return c;
        }

        /// <summary>A summary of the session as last published by the network thread.</summary>
        public SessionInfo Info()
        {
            ThrowIfDisposed();
            SessionInfo info;
            PropwashException.Check(NativeMethods.pw_session_info(handle, out info), "pw_session_info");
            return info;
        }

        /// <summary>Leaves the room (a host closes it). Returns at once; a Closed event follows.</summary>
        public void Leave()
        {
            ThrowIfDisposed();
            PropwashException.Check(NativeMethods.pw_session_leave(handle), "pw_session_leave");
        }

        /// <summary>Ends the session (saying goodbye in the background) and frees the handle. Safe to call twice.</summary>
        public void Dispose()
        {
            handle.Dispose();
        }
    }
}
