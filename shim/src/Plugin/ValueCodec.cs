// Photon values to propwash bytes and strings and back. Event contents get a
// one-byte tag so a receiver knows how to read them; property values (UTF-8
// strings in propwash, objects in Photon) get a short type prefix. Plain
// strings, numbers, bools and byte[] never need Photon's serializer, which
// matters because whether it can be found in the game is not yet known.
using System;
using System.Globalization;
using System.Text;

namespace Propwash.Shim
{
    internal static class ValueCodec
    {
        private const byte TagNull = 0, TagBytes = 1, TagString = 2, TagPhoton = 3;

        /// <summary>Event content to payload; null (with <paramref name="error"/>) when it cannot be encoded.</summary>
        public static byte[] EncodeEvent(object content, PhotonGlue glue, out string error)
        {
            error = null;
            if (content == null) return new[] { TagNull };
            byte[] raw = content as byte[];
            if (raw != null) return Tagged(TagBytes, raw);
            string s = content as string;
            if (s != null) return Tagged(TagString, Encoding.UTF8.GetBytes(s));
            byte[] photon = glue.Serialize(content);
            if (photon == null)
            {
                error = "no Photon serializer for a " + content.GetType().Name;
                return null;
            }
            return Tagged(TagPhoton, photon);
        }

        public static object DecodeEvent(ArraySegment<byte> payload, PhotonGlue glue)
        {
            if (payload.Count == 0) return null;
            byte tag = payload.Array[payload.Offset];
            byte[] body = new byte[payload.Count - 1];
            Buffer.BlockCopy(payload.Array, payload.Offset + 1, body, 0, body.Length);
            switch (tag)
            {
                case TagNull: return null;
                case TagString: return Encoding.UTF8.GetString(body);
                case TagPhoton: return glue.Deserialize(body);
                default: return body;
            }
        }

        private static byte[] Tagged(byte tag, byte[] body)
        {
            byte[] b = new byte[body.Length + 1];
            b[0] = tag;
            Buffer.BlockCopy(body, 0, b, 1, body.Length);
            return b;
        }

        /// <summary>Photon keys are strings or bytes (its well-known keys): "name" or "#255".</summary>
        public static string EncodeKey(object key)
        {
            return key is byte ? "#" + ((byte)key).ToString(CultureInfo.InvariantCulture) : Convert.ToString(key, CultureInfo.InvariantCulture);
        }

        public static object DecodeKey(string key)
        {
            byte b;
            if (key.Length > 1 && key[0] == '#' && byte.TryParse(key.Substring(1), NumberStyles.None, CultureInfo.InvariantCulture, out b)) return b;
            return key;
        }

        /// <summary>A property value as "type:text"; null when it cannot be encoded.</summary>
        public static string EncodeValue(object v, PhotonGlue glue)
        {
            CultureInfo c = CultureInfo.InvariantCulture;
            if (v is string) return "s:" + (string)v;
            if (v is int) return "i:" + ((int)v).ToString(c);
            if (v is long) return "l:" + ((long)v).ToString(c);
            if (v is float) return "f:" + ((float)v).ToString("R", c);
            if (v is double) return "d:" + ((double)v).ToString("R", c);
            if (v is bool) return (bool)v ? "b:1" : "b:0";
            if (v is byte) return "y:" + ((byte)v).ToString(c);
            if (v is short) return "h:" + ((short)v).ToString(c);
            if (v is byte[]) return "r:" + Convert.ToBase64String((byte[])v);
            byte[] photon = glue.Serialize(v);
            return photon == null ? null : "p:" + Convert.ToBase64String(photon);
        }

        public static object DecodeValue(string s, PhotonGlue glue)
        {
            if (s == null) return null;
            if (s.Length < 2 || s[1] != ':') return s; // set by something other than this shim
            CultureInfo c = CultureInfo.InvariantCulture;
            string body = s.Substring(2);
            try
            {
                switch (s[0])
                {
                    case 's': return body;
                    case 'i': return int.Parse(body, c);
                    case 'l': return long.Parse(body, c);
                    case 'f': return float.Parse(body, c);
                    case 'd': return double.Parse(body, c);
                    case 'b': return body == "1";
                    case 'y': return byte.Parse(body, c);
                    case 'h': return short.Parse(body, c);
                    case 'r': return Convert.FromBase64String(body);
                    case 'p': return glue.Deserialize(Convert.FromBase64String(body));
                    default: return s;
                }
            }
            catch (FormatException)
            {
                return s;
            }
            catch (OverflowException)
            {
                return s;
            }
        }
    }
}
