// How to host or join, in C# terms. The numeric defaults come from the
// library itself (pw_host_options_default / pw_join_options_default), so
// they cannot drift from the Rust side.
using System;

namespace Propwash
{
    /// <summary>How to open a room (<c>PwHostOptions</c>).</summary>
    public sealed class HostOptions
    {
        /// <summary>Local <c>ip:port</c> to listen on; empty means 0.0.0.0:5056.</summary>
        public string BindAddress { get; set; }
        /// <summary>The game build; joiners must send exactly the same string.</summary>
        public string GameVersion { get; set; }
        /// <summary>The hosting racer's display name (cut to 64 bytes).</summary>
        public string PlayerName { get; set; }
        /// <summary><c>player-id</c> from player-state.json; may be empty.</summary>
        public string PlayerId { get; set; }
        /// <summary>Snapshots per second to pilots, 10 to 240.</summary>
        public int PilotHz { get; set; }
        /// <summary>Snapshots per second to spectators, 10 to 240.</summary>
        public int SpectatorHz { get; set; }
        /// <summary>Pilot seats, the host's included, 1 to 6.</summary>
        public int MaxPilots { get; set; }
        /// <summary>Spectator seats, 0 to 15.</summary>
        public int MaxSpectators { get; set; }
        /// <summary>The room's password; empty: none. Never sent anywhere: joiners prove they know it.</summary>
        public string Password { get; set; }
        /// <summary>Admit only joiners Steam verified (needs <see cref="PropwashIdentity.Start"/> with Steam).</summary>
        public bool RequireVerified { get; set; }
        /// <summary>The coordinator to list the room at, <c>ip:port</c>; empty: not listed.</summary>
        public string CoordinatorAddress { get; set; }
        /// <summary>The game's part of the listing: <c>{"room":{...},"settings":{...}}</c> (see propwash.h). Required with CoordinatorAddress.</summary>
        public string ListingJson { get; set; }
        /// <summary>Most players, as the game sets it (Photon's MaxPlayers), 0 to 255; 0: the seats.</summary>
        public int MaxPlayers { get; set; }
        /// <summary>The room accepts joins (Photon's IsOpen).</summary>
        public bool Open { get; set; }
        /// <summary>The room is listed (Photon's IsVisible).</summary>
        public bool Visible { get; set; }
        /// <summary>A leaver's cached events leave with them (Photon's CleanupCacheOnLeave).</summary>
        public bool CleanupCacheOnLeave { get; set; }
        /// <summary>The room's first properties as a props layout (<see cref="RoomCodec.Props"/>); null: none.</summary>
        public byte[] RoomProps { get; set; }
        /// <summary>The host's own first player properties as a props layout; null: none.</summary>
        public byte[] PlayerProps { get; set; }

        public HostOptions()
        {
            PwHostOptions d;
            NativeMethods.pw_host_options_default(out d);
            BindAddress = "";
            GameVersion = "";
            PlayerName = "";
            PlayerId = "";
            PilotHz = (int)d.PilotHz;
            SpectatorHz = (int)d.SpectatorHz;
            MaxPilots = (int)d.MaxPilots;
            MaxSpectators = (int)d.MaxSpectators;
            Password = "";
            RequireVerified = d.RequireVerified;
            CoordinatorAddress = "";
            ListingJson = "";
            MaxPlayers = (int)d.MaxPlayers;
            Open = d.Open;
            Visible = d.Visible;
            CleanupCacheOnLeave = d.CleanupCacheOnLeave;
        }
    }

    /// <summary>How to join a room (<c>PwJoinOptions</c>).</summary>
    public sealed class JoinOptions
    {
        /// <summary>The host's <c>ip:port</c>; empty when joining a listed room by SessionId.</summary>
        public string HostAddress { get; set; }
        /// <summary>Local <c>ip:port</c> to bind; empty means any.</summary>
        public string BindAddress { get; set; }
        /// <summary>Must equal the host's or the join is refused.</summary>
        public string GameVersion { get; set; }
        public string PlayerName { get; set; }
        public string PlayerId { get; set; }
        /// <summary>Pilot or Spectator.</summary>
        public Role Role { get; set; }
        /// <summary>Accept a spectator seat when the pilot seats are taken.</summary>
        public bool SpectateIfFull { get; set; }
        /// <summary>Frames per second sent to the host, 10 to 240.</summary>
        public int SendHz { get; set; }
        /// <summary>The game's maps folder (must exist); the room's custom track is found or downloaded there. Empty: no track handling.</summary>
        public string MapsDir { get; set; }
        /// <summary>A folder keeping downloaded tracks for later rooms (created if missing); empty: none. Needs MapsDir.</summary>
        public string TrackCacheDir { get; set; }
        /// <summary>The room's password, if it asks one (never sent: the hello carries a proof).</summary>
        public string Password { get; set; }
        /// <summary>The coordinator listing the room, <c>ip:port</c>; with SessionId.</summary>
        public string CoordinatorAddress { get; set; }
        /// <summary>A listed room's id (16 hex digits, from <see cref="PropwashLobby"/>): joined through NAT punching or the relay.</summary>
        public string SessionId { get; set; }
        /// <summary>The player properties we join with, as a props layout (<see cref="RoomCodec.Props"/>); null: none.</summary>
        public byte[] PlayerProps { get; set; }

        public JoinOptions()
        {
            PwJoinOptions d;
            NativeMethods.pw_join_options_default(out d);
            HostAddress = "";
            BindAddress = "";
            GameVersion = "";
            PlayerName = "";
            PlayerId = "";
            Role = (Role)d.Role;
            SpectateIfFull = d.SpectateIfFull;
            SendHz = (int)d.SendHz;
            MapsDir = "";
            TrackCacheDir = "";
            Password = "";
            CoordinatorAddress = "";
            SessionId = "";
        }
    }
}
