// Just enough JSON for what the library sends the game: the player records
// of PLAYER_JOINED / players_json, the {"key":"value"|null} maps of
// property changes, the lobby's reports and the identity calls' answers.
// Objects become Dictionary<string, object>, arrays List<object>, numbers
// double (ids too big for a double travel as strings). Rare events only: it
// allocates freely.
//
// Here, not in the plugin, so that the wrappers (Identity.cs) and the plugin
// (Propwash.Shim.dll references this assembly) share one reader; it keeps
// the plugin's namespace, which tests/csharp/Harness.cs names.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Propwash.Shim
{
    public static class Json
    {
        /// <summary>Parses one JSON value; throws FormatException on anything else.</summary>
        public static object Parse(string text)
        {
            int i = 0;
            object v = Value(text, ref i);
            Space(text, ref i);
            if (i != text.Length) throw new FormatException("trailing characters at " + i);
            return v;
        }

        /// <summary>Parses text that holds one object; throws FormatException otherwise.</summary>
        public static Dictionary<string, object> ParseObject(string text)
        {
            Dictionary<string, object> o = Parse(text) as Dictionary<string, object>;
            if (o == null) throw new FormatException("not a JSON object");
            return o;
        }

        /// <summary>A string member, or null when absent, null or not a string.</summary>
        public static string Text(Dictionary<string, object> o, string key)
        {
            object v;
            return o.TryGetValue(key, out v) ? v as string : null;
        }

        /// <summary>A boolean member; false when absent or not a boolean.</summary>
        public static bool Flag(Dictionary<string, object> o, string key)
        {
            object v;
            return o.TryGetValue(key, out v) && v is bool && (bool)v;
        }

        private static void Space(string s, ref int i)
        {
            while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
        }

        private static object Value(string s, ref int i)
        {
            Space(s, ref i);
            if (i >= s.Length) throw new FormatException("unexpected end");
            char c = s[i];
            if (c == '{') return Object(s, ref i);
            if (c == '[') return Array(s, ref i);
            if (c == '"') return String(s, ref i);
            if (Literal(s, ref i, "true")) return true;
            if (Literal(s, ref i, "false")) return false;
            if (Literal(s, ref i, "null")) return null;
            int start = i;
            while (i < s.Length && "+-0123456789.eE".IndexOf(s[i]) >= 0) i++;
            if (start == i) throw new FormatException("unexpected '" + c + "' at " + i);
            return double.Parse(s.Substring(start, i - start), NumberStyles.Float, CultureInfo.InvariantCulture);
        }

        private static bool Literal(string s, ref int i, string word)
        {
            if (string.CompareOrdinal(s, i, word, 0, word.Length) != 0) return false;
            i += word.Length;
            return true;
        }

        private static void Expect(string s, ref int i, char c)
        {
            Space(s, ref i);
            if (i >= s.Length || s[i] != c) throw new FormatException("expected '" + c + "' at " + i);
            i++;
        }

        private static Dictionary<string, object> Object(string s, ref int i)
        {
            Dictionary<string, object> o = new Dictionary<string, object>();
            Expect(s, ref i, '{');
            Space(s, ref i);
            if (i < s.Length && s[i] == '}')
            {
                i++;
                return o;
            }
            while (true)
            {
                Space(s, ref i);
                string key = String(s, ref i);
                Expect(s, ref i, ':');
                o[key] = Value(s, ref i);
                Space(s, ref i);
                if (i < s.Length && s[i] == ',')
                {
                    i++;
                    continue;
                }
                Expect(s, ref i, '}');
                return o;
            }
        }

        private static List<object> Array(string s, ref int i)
        {
            List<object> a = new List<object>();
            Expect(s, ref i, '[');
            Space(s, ref i);
            if (i < s.Length && s[i] == ']')
            {
                i++;
                return a;
            }
            while (true)
            {
                a.Add(Value(s, ref i));
                Space(s, ref i);
                if (i < s.Length && s[i] == ',')
                {
                    i++;
                    continue;
                }
                Expect(s, ref i, ']');
                return a;
            }
        }

        private static string String(string s, ref int i)
        {
            Expect(s, ref i, '"');
            StringBuilder b = new StringBuilder();
            while (i < s.Length)
            {
                char c = s[i++];
                if (c == '"') return b.ToString();
                if (c != '\\')
                {
                    b.Append(c);
                    continue;
                }
                if (i >= s.Length) break;
                char e = s[i++];
                switch (e)
                {
                    case 'n': b.Append('\n'); break;
                    case 't': b.Append('\t'); break;
                    case 'r': b.Append('\r'); break;
                    case 'b': b.Append('\b'); break;
                    case 'f': b.Append('\f'); break;
                    case 'u':
                        if (i + 4 > s.Length) throw new FormatException("short \\u escape");
                        b.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 4;
                        break;
                    default: b.Append(e); break;
                }
            }
            throw new FormatException("unterminated string");
        }
    }

    /// <summary>One player as pw_session_players_json shows them (for people and logs).</summary>
    public sealed class PlayerJson
    {
        public uint Actor;
        public Role Role;
        public int Seat;
        public string Name;
        public string PlayerId;
        public Dictionary<string, string> Props = new Dictionary<string, string>();

        public static PlayerJson From(object json)
        {
            Dictionary<string, object> o = json as Dictionary<string, object>;
            if (o == null) throw new FormatException("a player record is not an object");
            PlayerJson p = new PlayerJson();
            object v;
            if (o.TryGetValue("actor", out v) && v is double) p.Actor = (uint)(double)v;
            if (o.TryGetValue("role", out v)) p.Role = (v as string) == "spectator" ? Role.Spectator : Role.Pilot;
            if (o.TryGetValue("seat", out v) && v is double) p.Seat = (int)(double)v;
            if (o.TryGetValue("name", out v)) p.Name = v as string;
            if (o.TryGetValue("player_id", out v)) p.PlayerId = v as string;
            Dictionary<string, object> props;
            if (o.TryGetValue("props", out v) && (props = v as Dictionary<string, object>) != null)
            {
                foreach (KeyValuePair<string, object> kv in props)
                {
                    p.Props[kv.Key] = kv.Value as string;
                }
            }
            return p;
        }
    }
}
