// The lobby in the plugin's terms: what a hosted room shows in the list (its
// listing JSON, built from the Photon room's name and properties), the rooms
// a page of the list holds, and the one browser (PropwashLobby) the plugin
// keeps open and reuses. Rare events only: it allocates freely.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Net;
using System.Text;

namespace Propwash.Shim
{
    internal static class LobbyText
    {
        /// <summary>The library's cap on names and ids in a listing, in UTF-8 bytes.</summary>
        public const int MaxTextBytes = 64;

        /// <summary>True for "ip:port" or "[v6]:port", which is all the library takes (no host names).</summary>
        public static bool IsIpPort(string s)
        {
            int colon = s.LastIndexOf(':');
            if (colon <= 0 || colon == s.Length - 1) return false;
            string host = s.Substring(0, colon);
            if (host.StartsWith("[", StringComparison.Ordinal) && host.EndsWith("]", StringComparison.Ordinal))
            {
                host = host.Substring(1, host.Length - 2);
            }
            else if (host.IndexOf(':') >= 0)
            {
                return false; // an IPv6 address needs its brackets
            }
            ushort port;
            IPAddress ip;
            return ushort.TryParse(s.Substring(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) && port != 0
                && IPAddress.TryParse(host, out ip);
        }

        /// <summary>Without control characters, trimmed, cut to <see cref="MaxTextBytes"/> without splitting a character.</summary>
        public static string Clip(string s)
        {
            if (string.IsNullOrEmpty(s)) return "";
            StringBuilder b = new StringBuilder(s.Length);
            int bytes = 0;
            for (int i = 0; i < s.Length; i++)
            {
                char c = s[i];
                if (char.IsControl(c)) continue;
                bool pair = char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]);
                if (char.IsSurrogate(c) && !pair) continue;
                int n = pair ? 4 : c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
                if (bytes + n > MaxTextBytes) break;
                bytes += n;
                b.Append(c);
                if (pair) b.Append(s[++i]);
            }
            return b.ToString().Trim();
        }

        /// <summary>A JSON string literal.</summary>
        public static string Quote(string s)
        {
            StringBuilder b = new StringBuilder(s.Length + 2);
            b.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': b.Append("\\\""); break;
                    case '\\': b.Append("\\\\"); break;
                    case '\n': b.Append("\\n"); break;
                    case '\r': b.Append("\\r"); break;
                    case '\t': b.Append("\\t"); break;
                    default:
                        if (c < 0x20) b.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else b.Append(c);
                        break;
                }
            }
            return b.Append('"').ToString();
        }

        /// <summary>A Photon property value as listing text ("" for null and for values that are not text or numbers).</summary>
        public static string Text(object value)
        {
            if (value == null) return "";
            if (value is string || value is IConvertible) return Clip(Convert.ToString(value, CultureInfo.InvariantCulture));
            return "";
        }

        /// <summary>The library's caps on lobby properties (lobby::record's MAX_LOBBY_PROPS*).</summary>
        public const int MaxLobbyProps = 8, MaxLobbyPropKey = 32, MaxLobbyPropsJson = 320;

        /// <summary>A lobby property as the listing's JSON ({"type":"int","value":3}); null for a type the lobby cannot carry.</summary>
        public static string LobbyProp(object v)
        {
            string type, value;
            if (v is bool) { type = "bool"; value = (bool)v ? "true" : "false"; }
            else if (v is byte) { type = "byte"; value = ((byte)v).ToString(CultureInfo.InvariantCulture); }
            else if (v is short) { type = "short"; value = ((short)v).ToString(CultureInfo.InvariantCulture); }
            else if (v is int) { type = "int"; value = ((int)v).ToString(CultureInfo.InvariantCulture); }
            else if (v is long) { type = "long"; value = ((long)v).ToString(CultureInfo.InvariantCulture); }
            else if (v is float && !float.IsNaN((float)v) && !float.IsInfinity((float)v)) { type = "float"; value = ((float)v).ToString("R", CultureInfo.InvariantCulture); }
            else if (v is double && !double.IsNaN((double)v) && !double.IsInfinity((double)v)) { type = "double"; value = ((double)v).ToString("R", CultureInfo.InvariantCulture); }
            else if (v is string && Clip((string)v) == (string)v) { type = "string"; value = Quote((string)v); }
            else return null;
            return "{\"type\":\"" + type + "\",\"value\":" + value + "}";
        }

        /// <summary>A lobby property read back with the type its game gave it (null: not one the lobby carries).</summary>
        public static object LobbyValue(object json)
        {
            Dictionary<string, object> o = json as Dictionary<string, object>;
            object v;
            if (o == null || !o.TryGetValue("value", out v) || v == null) return null;
            double d = v is double ? (double)v : 0;
            switch (Str(o, "type"))
            {
                case "bool": return v is bool ? v : null;
                case "byte": return v is double ? (object)(byte)d : null;
                case "short": return v is double ? (object)(short)d : null;
                case "int": return v is double ? (object)(int)d : null;
                case "long": return v is double ? (object)(long)d : null;
                case "float": return v is double ? (object)(float)d : null;
                case "double": return v is double ? (object)d : null;
                case "string": return v as string;
                default: return null;
            }
        }

        public static string Str(Dictionary<string, object> o, string key)
        {
            object v;
            return o != null && o.TryGetValue(key, out v) ? v as string : null;
        }

        public static int Int(Dictionary<string, object> o, string key)
        {
            object v;
            return o != null && o.TryGetValue(key, out v) && v is double ? (int)(double)v : 0;
        }

        public static bool Flag(Dictionary<string, object> o, string key)
        {
            object v;
            return o != null && o.TryGetValue(key, out v) && v is bool && (bool)v;
        }

        public static Dictionary<string, object> Obj(Dictionary<string, object> o, string key)
        {
            object v;
            return o != null && o.TryGetValue(key, out v) ? v as Dictionary<string, object> : null;
        }
    }

    /// <summary>
    /// What a hosted room shows in the lobby list. The name is the Photon room's; map, track
    /// and laps come from the room properties named in [Lobby] (DRL's own keys are not known,
    /// so by default they stay empty), the mode from Lobby.Mode.
    /// </summary>
    internal sealed class RoomListing
    {
        public string Name = "";
        public string MapId = "";
        public string TrackId = "";
        public int Laps;
        /// <summary>The game's MaxPlayers (0: none), IsOpen and IsVisible, as Photon's lobby lists them.</summary>
        public int MaxPlayers;
        public bool Open = true, Visible = true;
        /// <summary>The room properties the game lists in the lobby (CustomRoomPropertiesForLobby, Photon's key 250) and their values.</summary>
        private readonly List<string> lobbyKeys = new List<string>();
        private readonly SortedDictionary<string, object> lobbyProps = new SortedDictionary<string, object>(StringComparer.Ordinal);
        /// <summary>What the last <see cref="ToJson"/> had to leave out of the listing, for the log ("" when nothing).</summary>
        public string LeftOut = "";

        /// <summary>The Photon room name, or "&lt;player&gt;'s room" when the game gave none (Photon would make up a GUID).</summary>
        public RoomListing(string roomName, string playerName)
        {
            Name = LobbyText.Clip(roomName);
            if (Name.Length == 0) Name = LobbyText.Clip((string.IsNullOrEmpty(playerName) ? "propwash" : playerName) + "'s room");
            if (Name.Length == 0) Name = "propwash room";
        }

        /// <summary>Takes the listed values out of a Photon property table; true when one of them changed.</summary>
        public bool Absorb(IDictionary properties, ShimSettings settings)
        {
            if (properties == null) return false;
            bool changed = false;
            object listed = properties.Contains(RoomKey.PropsListedInLobby) ? properties[RoomKey.PropsListedInLobby] : null;
            if (listed is IEnumerable && !(listed is string))
            {
                lobbyKeys.Clear();
                foreach (object k in (IEnumerable)listed)
                {
                    if (k is string && !lobbyKeys.Contains((string)k)) lobbyKeys.Add((string)k);
                }
                foreach (string k in new List<string>(lobbyProps.Keys))
                {
                    if (!lobbyKeys.Contains(k)) changed |= lobbyProps.Remove(k);
                }
            }
            foreach (string k in lobbyKeys)
            {
                if (!properties.Contains(k)) continue;
                object v = properties[k], old;
                if (v == null) changed |= lobbyProps.Remove(k);
                else if (!lobbyProps.TryGetValue(k, out old) || !v.Equals(old))
                {
                    lobbyProps[k] = v;
                    changed = true;
                }
            }
            string key = (settings.MapIdProperty.Value ?? "").Trim();
            if (key.Length > 0 && properties.Contains(key)) changed |= Set(ref MapId, LobbyText.Text(properties[key]));
            key = (settings.TrackIdProperty.Value ?? "").Trim();
            if (key.Length > 0 && properties.Contains(key)) changed |= Set(ref TrackId, LobbyText.Text(properties[key]));
            key = (settings.LapsProperty.Value ?? "").Trim();
            if (key.Length > 0 && properties.Contains(key))
            {
                int laps;
                if (!int.TryParse(LobbyText.Text(properties[key]), NumberStyles.Integer, CultureInfo.InvariantCulture, out laps)) laps = 0;
                laps = Math.Max(0, Math.Min(ushort.MaxValue, laps));
                changed |= laps != Laps;
                Laps = laps;
            }
            return changed;
        }

        /// <summary>Takes the room settings the game changed; true when one of them changed.</summary>
        public bool Absorb(SettingsChange s)
        {
            bool changed = false;
            if ((s.Mask & SettingsChange.MaxPlayersBit) != 0 && s.MaxPlayers != MaxPlayers)
            {
                MaxPlayers = s.MaxPlayers;
                changed = true;
            }
            if ((s.Mask & SettingsChange.OpenBit) != 0 && s.Open != Open)
            {
                Open = s.Open;
                changed = true;
            }
            if ((s.Mask & SettingsChange.VisibleBit) != 0 && s.Visible != Visible)
            {
                Visible = s.Visible;
                changed = true;
            }
            return changed;
        }

        /// <summary>",\"props\":{...}" with the lobby properties that fit the library's caps, in name order; the rest named in <see cref="LeftOut"/>.</summary>
        private string PropsJson()
        {
            StringBuilder b = new StringBuilder();
            List<string> left = new List<string>();
            int n = 0;
            foreach (KeyValuePair<string, object> kv in lobbyProps)
            {
                string v = LobbyText.LobbyProp(kv.Value);
                string entry = LobbyText.Quote(kv.Key) + ":" + v;
                if (v == null || kv.Key.Length == 0 || LobbyText.Clip(kv.Key) != kv.Key || Encoding.UTF8.GetByteCount(kv.Key) > LobbyText.MaxLobbyPropKey
                    || n == LobbyText.MaxLobbyProps || Encoding.UTF8.GetByteCount(entry) + b.Length + 3 > LobbyText.MaxLobbyPropsJson)
                {
                    left.Add(kv.Key + " (" + (kv.Value == null ? "null" : kv.Value.GetType().Name) + ")");
                    continue;
                }
                if (n++ > 0) b.Append(',');
                b.Append(entry);
            }
            LeftOut = string.Join(", ", left.ToArray());
            return n == 0 ? "" : ",\"props\":{" + b + "}";
        }

        private static bool Set(ref string field, string value)
        {
            if (field == value) return false;
            field = value;
            return true;
        }

        /// <summary>
        /// The listing_json of HostOptions / UpdateListing. Custom tracks are "CMP-..." track ids;
        /// the plugin does not serve tracks, so joiners are never offered a download.
        /// </summary>
        public string ToJson(string mode)
        {
            string m = LobbyText.Clip(mode);
            if (m.Length == 0) m = "race";
            return "{\"room\":{\"name\":" + LobbyText.Quote(Name)
                + ",\"map_id\":" + LobbyText.Quote(MapId)
                + ",\"track_id\":" + LobbyText.Quote(TrackId)
                + ",\"is_custom_track\":" + (TrackId.StartsWith("CMP-", StringComparison.OrdinalIgnoreCase) ? "true" : "false")
                + ",\"mode\":" + LobbyText.Quote(m)
                + PropsJson()
                + "},\"settings\":{\"laps\":" + Laps.ToString(CultureInfo.InvariantCulture)
                + ",\"physics\":\"\",\"allow_track_download\":false"
                + ",\"max_players\":" + MaxPlayers.ToString(CultureInfo.InvariantCulture)
                + ",\"open\":" + (Open ? "true" : "false")
                + ",\"visible\":" + (Visible ? "true" : "false") + "}}";
        }
    }

    /// <summary>One room of a lobby page (a "sessions" entry of list_result).</summary>
    internal sealed class ListedRoom
    {
        public string SessionId;
        public string Name;
        public string MapId;
        public string TrackId;
        public string Mode;
        public string HostName;
        public int Laps;
        public int Pilots;
        public int Spectators;
        public int CurrentPilots;
        public int CurrentSpectators;
        public bool HasPassword;
        /// <summary>The game's own settings for the room (MaxPlayers 0: none but the seats).</summary>
        public int MaxPlayers;
        public bool Open, Visible;
        /// <summary>The room properties its game lists in the lobby, typed as the game set them.</summary>
        public Dictionary<string, object> Props = new Dictionary<string, object>();

        /// <summary>Everyone in the room, as Photon counts players.</summary>
        public int Players { get { return CurrentPilots + CurrentSpectators; } }
        public int FreePilots { get { return Math.Max(0, Pilots - CurrentPilots); } }
        public int FreeSpectators { get { return Math.Max(0, Spectators - CurrentSpectators); } }

        internal static ListedRoom From(object json)
        {
            Dictionary<string, object> o = json as Dictionary<string, object>;
            if (o == null) throw new FormatException("a listed room is not an object");
            Dictionary<string, object> room = LobbyText.Obj(o, "room");
            Dictionary<string, object> seats = LobbyText.Obj(o, "capacity");
            Dictionary<string, object> rules = LobbyText.Obj(o, "settings");
            Dictionary<string, object> props = new Dictionary<string, object>();
            Dictionary<string, object> listed = LobbyText.Obj(room, "props");
            if (listed != null)
            {
                foreach (KeyValuePair<string, object> kv in listed)
                {
                    object v = LobbyText.LobbyValue(kv.Value);
                    if (v != null) props[kv.Key] = v;
                }
            }
            return new ListedRoom
            {
                Props = props,
                SessionId = LobbyText.Str(o, "session_id") ?? "",
                Name = LobbyText.Str(room, "name") ?? "",
                MapId = LobbyText.Str(room, "map_id") ?? "",
                TrackId = LobbyText.Str(room, "track_id") ?? "",
                Mode = LobbyText.Str(room, "mode") ?? "",
                HostName = LobbyText.Str(LobbyText.Obj(o, "host"), "player_name") ?? "",
                Laps = LobbyText.Int(rules, "laps"),
                Pilots = LobbyText.Int(seats, "pilots"),
                Spectators = LobbyText.Int(seats, "spectators"),
                CurrentPilots = LobbyText.Int(seats, "current_pilots"),
                CurrentSpectators = LobbyText.Int(seats, "current_spectators"),
                HasPassword = LobbyText.Flag(o, "has_password"),
                MaxPlayers = LobbyText.Int(rules, "max_players"),
                // A host from before these settings were listed lets everyone in.
                Open = rules == null || !rules.ContainsKey("open") || LobbyText.Flag(rules, "open"),
                Visible = rules == null || !rules.ContainsKey("visible") || LobbyText.Flag(rules, "visible"),
            };
        }
    }

    /// <summary>One answer of the browser: a page of rooms (list_result) or why there is none (list_failed).</summary>
    internal sealed class LobbyAnswer
    {
        public uint RequestId;
        public bool Ok;
        public string Message = "";
        public int Total;
        public readonly List<ListedRoom> Rooms = new List<ListedRoom>();

        public static LobbyAnswer Parse(string json)
        {
            Dictionary<string, object> o = Json.Parse(json) as Dictionary<string, object>;
            if (o == null) throw new FormatException("a lobby answer is not an object");
            LobbyAnswer a = new LobbyAnswer
            {
                RequestId = (uint)LobbyText.Int(o, "request_id"),
                Ok = LobbyText.Str(o, "kind") == "list_result",
                Message = LobbyText.Str(o, "message") ?? "",
                Total = LobbyText.Int(o, "total"),
            };
            object sessions;
            if (a.Ok && o.TryGetValue("sessions", out sessions) && sessions is List<object>)
            {
                foreach (object s in (List<object>)sessions) a.Rooms.Add(ListedRoom.From(s));
            }
            return a;
        }
    }

    /// <summary>
    /// The lobby browser, opened on first use and kept for later searches (reopened only when
    /// the coordinator or the game version changes). Every call returns at once.
    /// </summary>
    internal sealed class LobbyBrowser : IDisposable
    {
        private PropwashLobby lobby;
        private string coordinator, version;

        /// <summary>Asks for a page; returns the id its answer will carry. Throws PropwashException.</summary>
        public uint List(string coordinatorAddress, string gameVersion, string queryJson)
        {
            if (lobby == null || coordinatorAddress != coordinator || gameVersion != version)
            {
                Dispose();
                lobby = PropwashLobby.Open(coordinatorAddress, gameVersion);
                coordinator = coordinatorAddress;
                version = gameVersion;
            }
            return lobby.List(queryJson);
        }

        /// <summary>The next answer, if one waits. Throws PropwashException (and FormatException on a bad answer).</summary>
        public bool TryNext(out LobbyAnswer answer)
        {
            string json;
            answer = lobby != null && lobby.TryPoll(out json) ? LobbyAnswer.Parse(json) : null;
            return answer != null;
        }

        public void Dispose()
        {
            if (lobby != null) lobby.Dispose();
            lobby = null;
            coordinator = version = null;
        }
    }
}
