// The binary layouts of the room's game-server side (see include/propwash.h,
// pw_session_raise_event's module): property changes, the room as a
// welcome brings it, a player's record, a property change event, and the
// filter keys an event carries. Integers are big-endian. Keys and values
// stay the game's bytes: this file never looks inside them.
using System;
using System.Collections.Generic;
using System.Text;

namespace Propwash
{
    /// <summary>One property: a key and its value (null: removed).</summary>
    public struct Prop
    {
        public readonly byte[] Key;
        public readonly byte[] Value;

        public Prop(byte[] key, byte[] value)
        {
            Key = key;
            Value = value;
        }
    }

    /// <summary>A player as PLAYER_JOINED and WELCOMED describe them.</summary>
    public sealed class PlayerRecord
    {
        public uint Actor;
        public Role Role;
        /// <summary>A pilot's seat, -1: none.</summary>
        public int Seat;
        public bool Verified;
        public string Name;
        public string PlayerId;
        /// <summary>Empty unless the host verified it with Steam.</summary>
        public string SteamId;
        public List<Prop> Props;
    }

    /// <summary>The room as a joiner finds it (WELCOMED's data).</summary>
    public sealed class RoomWelcome
    {
        public uint Actor;
        public uint Master;
        public byte MaxPlayers;
        public bool Open;
        public bool Visible;
        public bool CleanupCacheOnLeave;
        public List<Prop> RoomProps;
        /// <summary>Everyone, us included.</summary>
        public List<PlayerRecord> Players;
    }

    /// <summary>A PROPERTIES_CHANGED event's data.</summary>
    public sealed class PropsChange
    {
        public SettingsChange Settings;
        public List<Prop> Changes;
    }

    public static class RoomCodec
    {
        /// <summary>Length marker of a removed value.</summary>
        private const int NoValue = 0xFFFF;

        /// <summary>A props layout of these properties (a null value: remove the key).</summary>
        public static byte[] Props(IList<Prop> props)
        {
            if (props.Count > 0xFFFF)
            {
                throw new ArgumentException("too many properties");
            }
            List<byte> o = new List<byte>(16 + props.Count * 16);
            U16(o, props.Count);
            foreach (Prop p in props)
            {
                if (p.Key == null || p.Key.Length == 0 || p.Key.Length > Limits.MaxKeyBytes)
                {
                    throw new ArgumentException("a key must be 1 to " + Limits.MaxKeyBytes + " bytes");
                }
                U16(o, p.Key.Length);
                o.AddRange(p.Key);
                if (p.Value == null)
                {
                    U16(o, NoValue);
                    continue;
                }
                if (p.Value.Length >= NoValue)
                {
                    throw new ArgumentException("a value is too long");
                }
                U16(o, p.Value.Length);
                o.AddRange(p.Value);
            }
            return o.ToArray();
        }

        /// <summary>A filter-keys layout: at most 16 pairs of at most 255 bytes each (longer ones are left out).</summary>
        public static byte[] FilterKeys(IList<Prop> keys)
        {
            List<byte> o = new List<byte>(64);
            o.Add(0);
            int n = 0;
            foreach (Prop p in keys)
            {
                if (n == 16 || p.Key == null || p.Value == null || p.Key.Length > 255 || p.Value.Length > 255)
                {
                    continue;
                }
                o.Add((byte)p.Key.Length);
                o.AddRange(p.Key);
                o.Add((byte)p.Value.Length);
                o.AddRange(p.Value);
                n++;
            }
            o[0] = (byte)n;
            return n == 0 ? new byte[0] : o.ToArray();
        }

        public static RoomWelcome Welcome(ArraySegment<byte> data)
        {
            Reader r = new Reader(data);
            RoomWelcome w = new RoomWelcome();
            w.Actor = r.U32();
            w.Master = r.U32();
            w.MaxPlayers = r.U8();
            w.Open = r.U8() != 0;
            w.Visible = r.U8() != 0;
            w.CleanupCacheOnLeave = r.U8() != 0;
            w.RoomProps = r.Props();
            int n = r.U16();
            w.Players = new List<PlayerRecord>(n);
            for (int i = 0; i < n; i++)
            {
                w.Players.Add(r.Player());
            }
            r.End();
            return w;
        }

        public static PlayerRecord Player(ArraySegment<byte> data)
        {
            Reader r = new Reader(data);
            PlayerRecord p = r.Player();
            r.End();
            return p;
        }

        public static PropsChange Changed(ArraySegment<byte> data)
        {
            Reader r = new Reader(data);
            PropsChange c = new PropsChange();
            c.Settings.Mask = r.U8();
            c.Settings.MaxPlayers = r.U8();
            c.Settings.Open = r.U8() != 0;
            c.Settings.Visible = r.U8() != 0;
            c.Settings.Master = r.U32();
            c.Changes = r.Props();
            r.End();
            return c;
        }

        private static void U16(List<byte> o, int v)
        {
            o.Add((byte)(v >> 8));
            o.Add((byte)v);
        }

        /// <summary>Reads a layout, failing with FormatException on anything short or left over.</summary>
        private struct Reader
        {
            private readonly byte[] a;
            private readonly int end;
            private int at;

            public Reader(ArraySegment<byte> data)
            {
                a = data.Array ?? new byte[0];
                at = data.Offset;
                end = data.Offset + data.Count;
            }

            private void Need(int n)
            {
                if (end - at < n)
                {
                    throw new FormatException("the library's data ends early");
                }
            }

            public byte U8()
            {
                Need(1);
                return a[at++];
            }

            public int U16()
            {
                Need(2);
                int v = a[at] << 8 | a[at + 1];
                at += 2;
                return v;
            }

            public uint U32()
            {
                Need(4);
                uint v = (uint)a[at] << 24 | (uint)a[at + 1] << 16 | (uint)a[at + 2] << 8 | a[at + 3];
                at += 4;
                return v;
            }

            public byte[] Bytes(int n)
            {
                Need(n);
                byte[] b = new byte[n];
                Buffer.BlockCopy(a, at, b, 0, n);
                at += n;
                return b;
            }

            public string Str8()
            {
                return Encoding.UTF8.GetString(Bytes(U8()));
            }

            public List<Prop> Props()
            {
                int n = U16();
                List<Prop> props = new List<Prop>(n);
                for (int i = 0; i < n; i++)
                {
                    byte[] k = Bytes(U16());
                    int vlen = U16();
                    props.Add(new Prop(k, vlen == NoValue ? null : Bytes(vlen)));
                }
                return props;
            }

            public PlayerRecord Player()
            {
                PlayerRecord p = new PlayerRecord();
                p.Actor = U32();
                p.Role = (Role)U8();
                int seat = U8();
                p.Seat = seat == 0xFF ? -1 : seat;
                p.Verified = U8() != 0;
                p.Name = Str8();
                p.PlayerId = Str8();
                p.SteamId = Str8();
                p.Props = Props();
                return p;
            }

            public void End()
            {
                if (at != end)
                {
                    throw new FormatException("the library's data has " + (end - at) + " bytes too many");
                }
            }
        }
    }
}
