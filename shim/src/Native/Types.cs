// The public value types of the propwash C ABI (include/propwash.h), laid out
// exactly as the C structs so arrays of them go to native code pinned, not
// copied. Enum values are the header's numbers; they are never reused.
using System;
using System.Runtime.InteropServices;

namespace Propwash
{
    /// <summary>What a native call did (<c>PwResult</c>).</summary>
    public enum ResultCode : uint
    {
        Ok = 0,
        NullParameter = 1,
        InvalidHandle = 2,
        InvalidUtf8 = 3,
        InvalidArgument = 4,
        BufferTooSmall = 5,
        Busy = 6,
        /// <summary>Nothing to return; an answer, not a failure.</summary>
        Empty = 100,
        QueueFull = 101,
        Closed = 102,
        NotHost = 103,
        EventTooLarge = 104,
        /// <summary>Identity was never started: call <see cref="PropwashIdentity.Start"/> first.</summary>
        NotStarted = 105,
        /// <summary>Identity is still starting; ask again later.</summary>
        Pending = 106,
        BindFailed = 200,
        AddressInvalid = 201,
        ThreadFailed = 202,
        /// <summary>A folder or file does not exist (the message names it); nothing was created.</summary>
        FileMissing = 300,
        /// <summary>player-state.json is not valid JSON (the message names it); it was left untouched.</summary>
        FileInvalid = 301,
        /// <summary>Reading or writing a file failed (the message names it); the old file stays.</summary>
        IoFailed = 302,
        Panic = 900,
    }

    /// <summary>What kind of event <see cref="PropwashSession.TryPollEvent"/> returned (<c>PwEventKind</c>).</summary>
    public enum EventKind : uint
    {
        Welcomed = 1,
        Refused = 2,
        PlayerJoined = 3,
        PlayerLeft = 4,
        GameEvent = 5,
        /// <summary>Properties of the room (<see cref="SessionEvent.Target"/> 0) or a player changed; the data is a settings change and a props layout (see <see cref="RoomCodec"/>).</summary>
        PropertiesChanged = 6,
        // 7 is retired.
        Closed = 8,
        /// <summary>The room's track is downloading: see <see cref="SessionEvent.Received"/> and <see cref="SessionEvent.Total"/>.</summary>
        TrackProgress = 9,
        /// <summary>The room's track is ready; the data is its folder (UTF-8).</summary>
        TrackReady = 10,
        /// <summary>The room's track cannot be had; the data is why (UTF-8).</summary>
        TrackFailed = 11,
        /// <summary>A queued request failed on the network thread; the data is which and why (UTF-8).</summary>
        RequestFailed = 12,
        /// <summary>A property change was refused; <see cref="SessionEvent.Request"/> names it, the data is why (UTF-8).</summary>
        PropertiesRefused = 13,
    }

    /// <summary>What a peer does in the room (<c>PwRole</c>).</summary>
    public enum Role : uint
    {
        Pilot = 0,
        Spectator = 1,
        /// <summary>Not seated yet. Only ever an output.</summary>
        Unknown = 255,
    }

    /// <summary>Where a session is in its life (<c>PwSessionState</c>).</summary>
    public enum SessionState : uint
    {
        Connecting = 0,
        Connected = 1,
        Closed = 2,
    }

    /// <summary>Why a session ended or a player left (<c>PwCloseReason</c>).</summary>
    public enum CloseReason : uint
    {
        None = 0,
        Left = 1,
        TimedOut = 2,
        RoomClosed = 3,
        Refused = 4,
    }

    /// <summary>Who receives a game event (<c>PwEventTarget</c>).</summary>
    public enum EventTarget : uint
    {
        /// <summary>Everyone but the sender.</summary>
        Others = 0,
        /// <summary>Everyone, the sender too.</summary>
        All = 1,
        /// <summary>Only the host.</summary>
        Host = 2,
        /// <summary>Only the player whose actor number is given.</summary>
        Actor = 3,
    }

    /// <summary>Why the host refused a join (<c>PwRefuseReason</c>).</summary>
    public enum RefuseReason : uint
    {
        VersionMismatch = 1,
        PilotsFull = 2,
        SpectatorsFull = 3,
        Malformed = 4,
        RoomClosed = 5,
        /// <summary>The room admits only Steam-verified players, or Steam did not confirm ours.</summary>
        NotVerified = 6,
        /// <summary>A player with our Steam id is already in the room.</summary>
        SteamIdInUse = 7,
        /// <summary>The room asks a password and ours was missing or wrong.</summary>
        WrongPassword = 8,
        /// <summary>The room holds its most players (the game's own limit).</summary>
        GameFull = 9,
        /// <summary>The room is closed for joins.</summary>
        GameClosed = 10,
        /// <summary>The host's key is not the one its lobby listing published; we did not join.</summary>
        HostKeyMismatch = 11,
    }

    /// <summary>Who receives an event that names no target actors (Photon's ReceiverGroup).</summary>
    public enum Receivers : byte
    {
        Others = 0,
        All = 1,
        MasterClient = 2,
    }

    /// <summary>What the room's event cache does with an event (Photon's EventCaching, the options the room offers).</summary>
    public enum Caching : byte
    {
        DoNotCache = 0,
        AddToRoomCache = 4,
        AddToRoomCacheGlobal = 5,
        RemoveFromRoomCache = 6,
        RemoveFromRoomCacheForActorsLeft = 7,
    }

    /// <summary>How an event is routed and cached (<c>PwRaiseOptions</c>).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct RaiseOptions
    {
        public byte Code;
        public Receivers Receivers;
        public Caching Caching;
        /// <summary>Interest group: 0 everyone.</summary>
        public byte Group;
        /// <summary>Reliable and ordered; else on the per-tick lane.</summary>
        [MarshalAs(UnmanagedType.U1)]
        public bool Reliable;
        /// <summary>Unreliable events of one sender with the same non-zero slot replace each other while waiting.</summary>
        public uint Slot;
    }

    /// <summary>A change of (or expectation about) the room's settings and master (<c>PwSettingsChange</c>).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SettingsChange
    {
        public const byte MaxPlayersBit = 1;
        public const byte OpenBit = 2;
        public const byte VisibleBit = 4;
        public const byte MasterBit = 8;

        /// <summary>Which fields are set: the *Bit constants.</summary>
        public byte Mask;
        public byte MaxPlayers;
        [MarshalAs(UnmanagedType.U1)]
        public bool Open;
        [MarshalAs(UnmanagedType.U1)]
        public bool Visible;
        public uint Master;

        public bool IsEmpty
        {
            get { return Mask == 0; }
        }
    }

    /// <summary>How much the library logs (<c>PwLogLevel</c>).</summary>
    public enum LogLevel : uint
    {
        Error = 0,
        Warn = 1,
        Info = 2,
        Debug = 3,
        Trace = 4,
    }

    /// <summary>The header's <c>#define</c>s.</summary>
    public static class Limits
    {
        /// <summary>Largest game-event payload, in bytes.</summary>
        public const int MaxEventPayload = 16384;
        /// <summary>Log lines kept until read; more are dropped and counted.</summary>
        public const int LogQueueLines = 1024;
        /// <summary>The port a room listens on by default (Photon's game port).</summary>
        public const int DefaultPort = 5056;
        /// <summary>Longest property value, in bytes.</summary>
        public const int MaxPropertyBytes = 4096;
        /// <summary>Longest property key, in bytes.</summary>
        public const int MaxKeyBytes = 1024;
        /// <summary>Most target actors one event may name.</summary>
        public const int MaxTargets = 64;
        /// <summary><see cref="PropwashSession.SetProperties"/>' target meaning our own player.</summary>
        public const uint ActorSelf = 0xFFFFFFFF;
        /// <summary>An array of this many <see cref="PilotState"/> always suffices.</summary>
        public const int MaxPilots = 6;
        /// <summary>An array of this many <see cref="PeerStats"/> always suffices.</summary>
        public const int MaxPeers = 21;
    }

    /// <summary>Three floats, as C's <c>float[3]</c> (Unity's axes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Vec3
    {
        public float X;
        public float Y;
        public float Z;

        public Vec3(float x, float y, float z)
        {
            X = x;
            Y = y;
            Z = z;
        }

        public override string ToString()
        {
            return "(" + X + ", " + Y + ", " + Z + ")";
        }
    }

    /// <summary>A unit quaternion x, y, z, w, as C's <c>float[4]</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Quat
    {
        public float X;
        public float Y;
        public float Z;
        public float W;

        public Quat(float x, float y, float z, float w)
        {
            X = x;
            Y = y;
            Z = z;
            W = w;
        }

        public static Quat Identity
        {
            get { return new Quat(0f, 0f, 0f, 1f); }
        }
    }

    /// <summary>The sticks and buttons of one tick (<c>PwPilotInput</c>).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PilotInput
    {
        /// <summary>0 (idle) to 1 (full).</summary>
        public float Throttle;
        /// <summary>-1 to 1.</summary>
        public float Yaw;
        /// <summary>-1 to 1.</summary>
        public float Pitch;
        /// <summary>-1 to 1.</summary>
        public float Roll;
        /// <summary>Eight game-defined flags; only the low 8 bits travel.</summary>
        public uint Buttons;
    }

    /// <summary>One pilot's drone at one physics tick (<c>PwPilotFrame</c>):
    /// metres, metres per second, radians per second, Unity's axes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PilotFrame
    {
        /// <summary>The pilot's own physics tick number.</summary>
        public uint Tick;
        public Vec3 Position;
        public Quat Rotation;
        public Vec3 Velocity;
        public Vec3 AngularVelocity;
        public PilotInput Input;
    }

    /// <summary>One remote pilot as read back (<c>PwPilotState</c>).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PilotState
    {
        /// <summary>The pilot's actor number.</summary>
        public uint Actor;
        private uint extrapolated;
        /// <summary>Host time the frame belongs to, microseconds.</summary>
        public ulong HostTimeUs;
        /// <summary>The frame (interpolated frames carry the earlier sample's tick and inputs).</summary>
        public PilotFrame Frame;

        /// <summary>True when the frame was projected past the newest one received.</summary>
        public bool Extrapolated
        {
            get { return extrapolated != 0; }
        }
    }

    /// <summary>Link statistics of one peer (<c>PwPeerStats</c>).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PeerStats
    {
        public uint Actor;
        public Role Role;
        public float RttMs;
        /// <summary>Fraction of our packets the peer did not acknowledge, 0 to 1.</summary>
        public float Loss;
        public uint LastTick;
        public ulong PacketsSent;
        public ulong PacketsReceived;
        public ulong PacketsLost;
        public ulong BytesSent;
        public ulong BytesReceived;
        public ulong InputsRecovered;
    }

    /// <summary>
    /// A session's counters (<c>PwSessionCounters</c>). <see cref="EventsDropped"/> growing
    /// means the game left too many events unread and missed those.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SessionCounters
    {
        public ulong Received;
        public ulong DroppedStrangers;
        public ulong DroppedFull;
        public ulong PushesDropped;
        public ulong EventsQueued;
        public ulong EventsDropped;
        public ulong LobbyEventsDropped;
        public ulong RejectedDatagrams;
        public ulong UnsealedDropped;
        public ulong RefusedFromHost;
        public ulong FloodRefused;
        public ulong FloodersDropped;
    }

    /// <summary>A summary of a session (<c>PwSessionInfo</c>).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SessionInfo
    {
        public SessionState State;
        public CloseReason CloseReason;
        public Role Role;
        /// <summary>Players seated, us included (0 while joining).</summary>
        public uint PlayerCount;
        /// <summary>Our actor number (the host is 1; 0 while joining).</summary>
        public uint Actor;
        /// <summary>The local UDP port the session is bound to.</summary>
        public ushort LocalPort;
        [MarshalAs(UnmanagedType.U1)]
        public bool IsHost;
        /// <summary>True once <see cref="PropwashSession.HostTime"/> is meaningful.</summary>
        [MarshalAs(UnmanagedType.U1)]
        public bool ClockSynced;
    }
}
