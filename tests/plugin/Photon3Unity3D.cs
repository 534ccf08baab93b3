// FAKE Photon3Unity3D.dll (Exit Games' client library 4.1.x, namespace
// ExitGames.Client.Photon) for tests/plugin.rs: the surface PUN Classic and
// Propwash.Shim use, with the real 4.1.2.6 names, signatures and numbers
// (shim/stubs/Photon3Unity3D.cs is a subset). Never shipped.
//
// PhotonPeer is a peer that never reaches a server: Connect returns true
// and the next DispatchIncomingCommands reports ExceptionOnConnect, then
// Disconnect; operations fail as "not connected"; the server time is 0.
// Every PhotonPeer method and getter the plugin may patch runs its Harmony
// prefixes first (the fake 0Harmony's Harmony.Call) and counts each run of
// its original body in PhotonPeer.OriginalCalls, so a test can tell a
// patched peer from an unpatched one.
//
// Protocol is this fake's own deterministic binary format (not Photon's
// Protocol16): equal values give equal bytes (table entries are written in
// the order of their keys' bytes). It carries null, bool, byte, short, int,
// long, float, double, string, byte[], arrays of any of these (int[],
// string[], object[], ...), Hashtable, Dictionary<K,V> (such as
// Dictionary<byte,object>) and types registered with
// PhotonPeer.RegisterType. The Serialize(int/short/float, byte[], ref int)
// helpers write big-endian, as Photon's do.
using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Text;
using System.Threading;
using HarmonyLib;

namespace ExitGames.Client.Photon
{
    public enum StatusCode
    {
        SecurityExceptionOnConnect = 1022,
        ExceptionOnConnect = 1023,
        Connect = 1024,
        Disconnect = 1025,
        Exception = 1026,
        QueueOutgoingReliableWarning = 1027,
        QueueOutgoingUnreliableWarning = 1029,
        SendError = 1030,
        QueueOutgoingAcksWarning = 1031,
        QueueIncomingReliableWarning = 1033,
        QueueIncomingUnreliableWarning = 1035,
        QueueSentWarning = 1037,
        ExceptionOnReceive = 1039,
        TimeoutDisconnect = 1040,
        DisconnectByServerTimeout = 1041,
        DisconnectByServerUserLimit = 1042,
        DisconnectByServerLogic = 1043,
        DisconnectByServerReasonUnknown = 1044,
        EncryptionEstablished = 1048,
        EncryptionFailedToEstablish = 1049,
    }

    public enum PeerStateValue : byte
    {
        Disconnected = 0,
        Connecting = 1,
        Connected = 3,
        Disconnecting = 4,
        InitializingApplication = 10,
    }

    public enum DebugLevel : byte
    {
        OFF = 0,
        ERROR = 1,
        WARNING = 2,
        INFO = 3,
        ALL = 5,
    }

    public enum ConnectionProtocol : byte
    {
        Udp = 0,
        Tcp = 1,
        WebSocket = 4,
        WebSocketSecure = 5,
    }

    public enum DeliveryMode
    {
        Unreliable = 0,
        Reliable = 1,
        UnreliableUnsequenced = 2,
        ReliableUnsequenced = 3,
    }

    public enum SerializationProtocol
    {
        GpBinaryV16 = 0,
        GpBinaryV18 = 1,
    }

    public interface IPhotonPeerListener
    {
        void DebugReturn(DebugLevel level, string message);
        void OnOperationResponse(OperationResponse operationResponse);
        void OnStatusChanged(StatusCode statusCode);
        void OnEvent(EventData eventData);
    }

    public delegate byte[] SerializeMethod(object customObject);

    public delegate object DeserializeMethod(byte[] serializedCustomObject);

    public class OperationRequest
    {
        public byte OperationCode;
        public Dictionary<byte, object> Parameters;
    }

    public class OperationResponse
    {
        public byte OperationCode;
        public short ReturnCode;
        public string DebugMessage;
        public Dictionary<byte, object> Parameters;

        /// <summary>A parameter, or null when absent (Parameters itself must be set).</summary>
        public object this[byte parameterCode]
        {
            get
            {
                object v;
                Parameters.TryGetValue(parameterCode, out v);
                return v;
            }
            set { Parameters[parameterCode] = value; }
        }

        public override string ToString()
        {
            return string.Format("OperationResponse {0}: ReturnCode: {1}.", OperationCode, ReturnCode);
        }

        public string ToStringFull()
        {
            return string.Format("OperationResponse {0}: ReturnCode: {1} ({2}). Parameters: {3}", OperationCode, ReturnCode, DebugMessage, SupportClass.DictionaryToString(Parameters));
        }
    }

    public class EventData
    {
        public byte Code;
        public Dictionary<byte, object> Parameters;

        /// <summary>A parameter, or null when absent (Parameters itself must be set).</summary>
        public object this[byte key]
        {
            get
            {
                object v;
                Parameters.TryGetValue(key, out v);
                return v;
            }
            set { Parameters[key] = value; }
        }

        /// <summary>The actor number in parameter 254, or -1.</summary>
        public int Sender
        {
            get
            {
                object v = Parameters == null ? null : this[254];
                return v == null ? -1 : (int)v;
            }
        }

        /// <summary>Parameter 245.</summary>
        public object CustomData
        {
            get { return this[245]; }
        }

        public override string ToString()
        {
            return string.Format("Event {0}.", Code);
        }

        public string ToStringFull()
        {
            return string.Format("Event {0}: {1}", Code, SupportClass.DictionaryToString(Parameters));
        }
    }

    /// <summary>Photon's Hashtable: a Dictionary whose indexer gives null for a missing key; it enumerates DictionaryEntry.</summary>
    public class Hashtable : Dictionary<object, object>
    {
        public Hashtable() { }

        public Hashtable(int x) : base(x) { }

        public new object this[object key]
        {
            get
            {
                object v;
                return TryGetValue(key, out v) ? v : null;
            }
            set { base[key] = value; }
        }

        public new IEnumerator<DictionaryEntry> GetEnumerator()
        {
            foreach (KeyValuePair<object, object> kv in (Dictionary<object, object>)this) yield return new DictionaryEntry(kv.Key, kv.Value);
        }

        public override string ToString()
        {
            return SupportClass.DictionaryToString(this);
        }

        public object Clone()
        {
            Hashtable copy = new Hashtable(Count);
            foreach (KeyValuePair<object, object> kv in (Dictionary<object, object>)this) copy[kv.Key] = kv.Value;
            return copy;
        }
    }

    public struct SendOptions
    {
        public static readonly SendOptions SendReliable = new SendOptions { Reliability = true };
        public static readonly SendOptions SendUnreliable = new SendOptions { Reliability = false };

        public DeliveryMode DeliveryMode;
        public bool Encrypt;
        public byte Channel;

        /// <summary>DeliveryMode Reliable (true) or Unreliable (false).</summary>
        public bool Reliability
        {
            get { return DeliveryMode == DeliveryMode.Reliable; }
            set { DeliveryMode = value ? DeliveryMode.Reliable : DeliveryMode.Unreliable; }
        }

        public override string ToString()
        {
            return "SendOptions(" + DeliveryMode + ", channel " + Channel + (Encrypt ? ", encrypted" : "") + ")";
        }
    }

    public class SupportClass
    {
        public delegate int IntegerMillisecondsDelegate();

        private static readonly List<Thread> Threads = new List<Thread>();
        private static readonly List<bool> Running = new List<bool>();

        /// <summary>The instance and static methods of a type (any visibility) that carry <paramref name="attribute"/> (all when null).</summary>
        public static List<MethodInfo> GetMethods(Type type, Type attribute)
        {
            List<MethodInfo> found = new List<MethodInfo>();
            if (type == null) return found;
            foreach (MethodInfo m in type.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static))
            {
                if (attribute == null || m.IsDefined(attribute, false)) found.Add(m);
            }
            return found;
        }

        public static int GetTickCount()
        {
            return Environment.TickCount;
        }

        /// <summary>Calls <paramref name="myThread"/> on a background thread every interval until it returns false; returns an id.</summary>
        public static byte StartBackgroundCalls(Func<bool> myThread, int millisecondsInterval = 100, string taskName = "")
        {
            lock (Threads)
            {
                byte id = (byte)Threads.Count;
                Running.Add(true);
                Thread t = new Thread(() =>
                {
                    while (true)
                    {
                        lock (Threads)
                        {
                            if (!Running[id]) return;
                        }
                        if (!myThread()) return;
                        Thread.Sleep(millisecondsInterval);
                    }
                });
                t.IsBackground = true;
                t.Name = string.IsNullOrEmpty(taskName) ? "photon background call " + id : taskName;
                Threads.Add(t);
                t.Start();
                return id;
            }
        }

        public static bool StopBackgroundCalls(byte id)
        {
            lock (Threads)
            {
                if (id >= Running.Count || !Running[id]) return false;
                Running[id] = false;
                return true;
            }
        }

        public static bool StopAllBackgroundCalls()
        {
            lock (Threads)
            {
                for (int i = 0; i < Running.Count; i++) Running[i] = false;
                return true;
            }
        }

        public static string DictionaryToString(IDictionary dictionary)
        {
            return DictionaryToString(dictionary, true);
        }

        /// <summary>"{key=value, ...}", with "(Type)" before each key and value when <paramref name="includeTypes"/>.</summary>
        public static string DictionaryToString(IDictionary dictionary, bool includeTypes)
        {
            if (dictionary == null) return "null";
            StringBuilder b = new StringBuilder("{");
            foreach (object key in dictionary.Keys)
            {
                if (b.Length > 1) b.Append(", ");
                object value = dictionary[key];
                string shown = value is IDictionary ? DictionaryToString((IDictionary)value, includeTypes)
                    : value is string[] ? "{" + string.Join(",", (string[])value) + "}"
                    : value is byte[] ? "byte[" + ((byte[])value).Length + "]"
                    : value == null ? "null" : value.ToString();
                if (includeTypes)
                {
                    b.Append("(").Append(key.GetType().Name).Append(")").Append(key).Append("=(")
                        .Append(value == null ? "null" : value.GetType().Name).Append(")").Append(shown);
                }
                else
                {
                    b.Append(key).Append("=").Append(shown);
                }
            }
            return b.Append("}").ToString();
        }
    }

    /// <summary>This fake's own serializer (see the top of the file).</summary>
    public class Protocol
    {
        private enum Tag : byte
        {
            Null = 0, Bool = 1, Byte = 2, Short = 3, Int = 4, Long = 5, Float = 6, Double = 7, String = 8,
            ByteArray = 9, Array = 10, Hashtable = 11, Dictionary = 12, Custom = 13, AnyObject = 14,
        }

        private sealed class Custom
        {
            public Type Type;
            public byte Code;
            public SerializeMethod Write;
            public DeserializeMethod Read;
        }

        private static readonly object Gate = new object();
        private static readonly Dictionary<Type, Custom> ByType = new Dictionary<Type, Custom>();
        private static readonly Dictionary<byte, Custom> ByCode = new Dictionary<byte, Custom>();

        /// <summary>Registers a custom type; false when the type or the code is taken.</summary>
        public static bool TryRegisterType(Type type, byte typeCode, SerializeMethod serializeFunction, DeserializeMethod deserializeFunction)
        {
            if (type == null || serializeFunction == null || deserializeFunction == null) return false;
            lock (Gate)
            {
                if (ByType.ContainsKey(type) || ByCode.ContainsKey(typeCode)) return false;
                Custom c = new Custom { Type = type, Code = typeCode, Write = serializeFunction, Read = deserializeFunction };
                ByType[type] = c;
                ByCode[typeCode] = c;
                return true;
            }
        }

        public static byte[] Serialize(object obj)
        {
            using (MemoryStream m = new MemoryStream())
            {
                Write(new BinaryWriter(m), obj);
                return m.ToArray();
            }
        }

        public static object Deserialize(byte[] serializedData)
        {
            if (serializedData == null) throw new ArgumentNullException("serializedData");
            using (MemoryStream m = new MemoryStream(serializedData))
            {
                BinaryReader r = new BinaryReader(m);
                object v = Read(r);
                if (m.Position != m.Length) throw new InvalidDataException("Protocol.Deserialize: " + (m.Length - m.Position) + " bytes after the value");
                return v;
            }
        }

        public static void Serialize(short value, byte[] target, ref int targetOffset)
        {
            target[targetOffset++] = (byte)(value >> 8);
            target[targetOffset++] = (byte)value;
        }

        public static void Serialize(int value, byte[] target, ref int targetOffset)
        {
            for (int shift = 24; shift >= 0; shift -= 8) target[targetOffset++] = (byte)(value >> shift);
        }

        public static void Serialize(float value, byte[] target, ref int targetOffset)
        {
            Serialize(BitConverter.ToInt32(BitConverter.GetBytes(value), 0), target, ref targetOffset);
        }

        public static void Deserialize(out int value, byte[] source, ref int offset)
        {
            value = 0;
            for (int i = 0; i < 4; i++) value = (value << 8) | source[offset++];
        }

        public static void Deserialize(out short value, byte[] source, ref int offset)
        {
            value = (short)((source[offset] << 8) | source[offset + 1]);
            offset += 2;
        }

        public static void Deserialize(out float value, byte[] source, ref int offset)
        {
            int bits;
            Deserialize(out bits, source, ref offset);
            value = BitConverter.ToSingle(BitConverter.GetBytes(bits), 0);
        }

        private static void Int(BinaryWriter w, int v)
        {
            byte[] b = new byte[4];
            int at = 0;
            Serialize(v, b, ref at);
            w.Write(b);
        }

        private static int Int(BinaryReader r)
        {
            int v, at = 0;
            Deserialize(out v, r.ReadBytes(4), ref at);
            return v;
        }

        private static void Long(BinaryWriter w, long v)
        {
            Int(w, (int)(v >> 32));
            Int(w, (int)v);
        }

        private static long Long(BinaryReader r)
        {
            long hi = Int(r);
            return (hi << 32) | (uint)Int(r);
        }

        private static Custom CustomOf(Type t)
        {
            lock (Gate)
            {
                Custom c;
                return ByType.TryGetValue(t, out c) ? c : null;
            }
        }

        /// <summary>The tag (and custom code) naming a type, for typed arrays and dictionaries.</summary>
        private static void Descriptor(BinaryWriter w, Type t)
        {
            Custom c = CustomOf(t);
            if (c != null)
            {
                w.Write((byte)Tag.Custom);
                w.Write(c.Code);
                return;
            }
            if (t == typeof(object)) w.Write((byte)Tag.AnyObject);
            else if (t == typeof(bool)) w.Write((byte)Tag.Bool);
            else if (t == typeof(byte)) w.Write((byte)Tag.Byte);
            else if (t == typeof(short)) w.Write((byte)Tag.Short);
            else if (t == typeof(int)) w.Write((byte)Tag.Int);
            else if (t == typeof(long)) w.Write((byte)Tag.Long);
            else if (t == typeof(float)) w.Write((byte)Tag.Float);
            else if (t == typeof(double)) w.Write((byte)Tag.Double);
            else if (t == typeof(string)) w.Write((byte)Tag.String);
            else if (t == typeof(byte[])) w.Write((byte)Tag.ByteArray);
            else if (t == typeof(Hashtable)) w.Write((byte)Tag.Hashtable);
            else if (t.IsArray && t.GetArrayRank() == 1)
            {
                w.Write((byte)Tag.Array);
                Descriptor(w, t.GetElementType());
            }
            else throw new ArgumentException("Protocol.Serialize: cannot serialize a " + t.FullName);
        }

        private static Type Descriptor(BinaryReader r)
        {
            Tag tag = (Tag)r.ReadByte();
            switch (tag)
            {
                case Tag.AnyObject: return typeof(object);
                case Tag.Bool: return typeof(bool);
                case Tag.Byte: return typeof(byte);
                case Tag.Short: return typeof(short);
                case Tag.Int: return typeof(int);
                case Tag.Long: return typeof(long);
                case Tag.Float: return typeof(float);
                case Tag.Double: return typeof(double);
                case Tag.String: return typeof(string);
                case Tag.ByteArray: return typeof(byte[]);
                case Tag.Hashtable: return typeof(Hashtable);
                case Tag.Array: return Descriptor(r).MakeArrayType();
                case Tag.Custom: return CustomByCode(r.ReadByte()).Type;
            }
            throw new InvalidDataException("Protocol.Deserialize: unknown type tag " + (byte)tag);
        }

        private static Custom CustomByCode(byte code)
        {
            lock (Gate)
            {
                Custom c;
                if (ByCode.TryGetValue(code, out c)) return c;
            }
            throw new InvalidDataException("Protocol.Deserialize: no custom type is registered for code " + code);
        }

        private static void Write(BinaryWriter w, object v)
        {
            if (v == null)
            {
                w.Write((byte)Tag.Null);
                return;
            }
            Type t = v.GetType();
            Custom c = CustomOf(t);
            if (c != null)
            {
                byte[] body = c.Write(v) ?? new byte[0];
                w.Write((byte)Tag.Custom);
                w.Write(c.Code);
                Int(w, body.Length);
                w.Write(body);
                return;
            }
            if (v is bool) { w.Write((byte)Tag.Bool); w.Write((bool)v ? (byte)1 : (byte)0); }
            else if (v is byte) { w.Write((byte)Tag.Byte); w.Write((byte)v); }
            else if (v is short) { w.Write((byte)Tag.Short); w.Write((byte)((short)v >> 8)); w.Write((byte)(short)v); }
            else if (v is int) { w.Write((byte)Tag.Int); Int(w, (int)v); }
            else if (v is long) { w.Write((byte)Tag.Long); Long(w, (long)v); }
            else if (v is float) { w.Write((byte)Tag.Float); Int(w, BitConverter.ToInt32(BitConverter.GetBytes((float)v), 0)); }
            else if (v is double) { w.Write((byte)Tag.Double); Long(w, BitConverter.DoubleToInt64Bits((double)v)); }
            else if (v is string)
            {
                byte[] s = Encoding.UTF8.GetBytes((string)v);
                w.Write((byte)Tag.String);
                Int(w, s.Length);
                w.Write(s);
            }
            else if (v is byte[])
            {
                w.Write((byte)Tag.ByteArray);
                Int(w, ((byte[])v).Length);
                w.Write((byte[])v);
            }
            else if (t.IsArray && t.GetArrayRank() == 1)
            {
                Array a = (Array)v;
                w.Write((byte)Tag.Array);
                Descriptor(w, t.GetElementType());
                Int(w, a.Length);
                foreach (object item in a) Write(w, item);
            }
            else if (v is Hashtable)
            {
                w.Write((byte)Tag.Hashtable);
                Entries(w, (IDictionary)v);
            }
            else if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(Dictionary<,>))
            {
                Type[] kv = t.GetGenericArguments();
                w.Write((byte)Tag.Dictionary);
                Descriptor(w, kv[0]);
                Descriptor(w, kv[1]);
                Entries(w, (IDictionary)v);
            }
            else throw new ArgumentException("Protocol.Serialize: cannot serialize a " + t.FullName);
        }

        /// <summary>Count, then the entries in the order of their keys' bytes (so equal tables give equal bytes).</summary>
        private static void Entries(BinaryWriter w, IDictionary d)
        {
            List<KeyValuePair<byte[], object>> entries = new List<KeyValuePair<byte[], object>>();
            foreach (DictionaryEntry e in d) entries.Add(new KeyValuePair<byte[], object>(Serialize(e.Key), e.Value));
            entries.Sort((x, y) => Compare(x.Key, y.Key));
            Int(w, entries.Count);
            foreach (KeyValuePair<byte[], object> e in entries)
            {
                w.Write(e.Key);
                Write(w, e.Value);
            }
        }

        private static int Compare(byte[] x, byte[] y)
        {
            for (int i = 0; i < x.Length && i < y.Length; i++)
            {
                if (x[i] != y[i]) return x[i].CompareTo(y[i]);
            }
            return x.Length.CompareTo(y.Length);
        }

        private static object Read(BinaryReader r)
        {
            Tag tag = (Tag)r.ReadByte();
            switch (tag)
            {
                case Tag.Null: return null;
                case Tag.Bool: return r.ReadByte() != 0;
                case Tag.Byte: return r.ReadByte();
                case Tag.Short: return (short)((r.ReadByte() << 8) | r.ReadByte());
                case Tag.Int: return Int(r);
                case Tag.Long: return Long(r);
                case Tag.Float: return BitConverter.ToSingle(BitConverter.GetBytes(Int(r)), 0);
                case Tag.Double: return BitConverter.Int64BitsToDouble(Long(r));
                case Tag.String: return Encoding.UTF8.GetString(Bytes(r, Int(r)));
                case Tag.ByteArray: return Bytes(r, Int(r));
                case Tag.Array:
                {
                    Type element = Descriptor(r);
                    int n = Int(r);
                    Array a = Array.CreateInstance(element, n);
                    for (int i = 0; i < n; i++) a.SetValue(Read(r), i);
                    return a;
                }
                case Tag.Hashtable:
                {
                    Hashtable h = new Hashtable();
                    int n = Int(r);
                    for (int i = 0; i < n; i++) h[Read(r)] = Read(r);
                    return h;
                }
                case Tag.Dictionary:
                {
                    Type k = Descriptor(r), v = Descriptor(r);
                    IDictionary d = (IDictionary)Activator.CreateInstance(typeof(Dictionary<,>).MakeGenericType(k, v));
                    int n = Int(r);
                    for (int i = 0; i < n; i++) d.Add(Read(r), Read(r));
                    return d;
                }
                case Tag.Custom:
                {
                    Custom c = CustomByCode(r.ReadByte());
                    return c.Read(Bytes(r, Int(r)));
                }
            }
            throw new InvalidDataException("Protocol.Deserialize: unknown type tag " + (byte)tag);
        }

        private static byte[] Bytes(BinaryReader r, int n)
        {
            if (n < 0) throw new InvalidDataException("Protocol.Deserialize: negative length");
            byte[] b = r.ReadBytes(n);
            if (b.Length != n) throw new EndOfStreamException("Protocol.Deserialize: the data ends early");
            return b;
        }
    }

    /// <summary>
    /// A peer with no server to reach (see the top of the file). Patchable members run
    /// Harmony.Call(their MethodInfo, this, arguments, original body).
    /// </summary>
    public class PhotonPeer
    {
        private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        private static readonly object[] None = new object[0];
        private static readonly Dictionary<string, int> Originals = new Dictionary<string, int>();

        private static readonly MethodInfo MListener = Getter("Listener");
        private static readonly MethodInfo MPeerState = Getter("PeerState");
        private static readonly MethodInfo MServerTime = Getter("ServerTimeInMilliSeconds");
        private static readonly MethodInfo MEncryptionAvailable = Getter("IsEncryptionAvailable");
        private static readonly MethodInfo MRoundTripTime = Getter("RoundTripTime");
        private static readonly MethodInfo MConnect2 = Method("Connect", typeof(string), typeof(string));
        private static readonly MethodInfo MConnect3 = Method("Connect", typeof(string), typeof(string), typeof(object));
        private static readonly MethodInfo MDisconnect = Method("Disconnect");
        private static readonly MethodInfo MStopThread = Method("StopThread");
        private static readonly MethodInfo MFetchServerTimestamp = Method("FetchServerTimestamp");
        private static readonly MethodInfo MEstablishEncryption = Method("EstablishEncryption");
        private static readonly MethodInfo MService = Method("Service");
        private static readonly MethodInfo MSendOutgoing = Method("SendOutgoingCommands");
        private static readonly MethodInfo MSendAcksOnly = Method("SendAcksOnly");
        private static readonly MethodInfo MDispatch = Method("DispatchIncomingCommands");
        private static readonly MethodInfo MSendOperation = Method("SendOperation", typeof(byte), typeof(Dictionary<byte, object>), typeof(SendOptions));
        private static readonly MethodInfo MOpCustom5 = Method("OpCustom", typeof(byte), typeof(Dictionary<byte, object>), typeof(bool), typeof(byte), typeof(bool));
        private static readonly MethodInfo MOpCustom4 = Method("OpCustom", typeof(OperationRequest), typeof(bool), typeof(byte), typeof(bool));
        private static readonly MethodInfo MRegisterType = Method("RegisterType", typeof(Type), typeof(byte), typeof(SerializeMethod), typeof(DeserializeMethod));

        private IPhotonPeerListener listener;
        private PeerStateValue state = PeerStateValue.Disconnected;
        /// <summary>Status changes the next DispatchIncomingCommands calls hand out, one each.</summary>
        private readonly Queue<Action> pending = new Queue<Action>();
        private readonly int created = Environment.TickCount;
        private int lastSendOutgoing;
        private SupportClass.IntegerMillisecondsDelegate localMs;

        public DebugLevel DebugOut = DebugLevel.ERROR;
        public Dictionary<ConnectionProtocol, Type> SocketImplementationConfig = new Dictionary<ConnectionProtocol, Type>();
        public byte ChannelCount = 2;
        public int WarningSize = 100;
        public int SentCountAllowance = 7;
        public int TimePingInterval = 1000;
        public int DisconnectTimeout = 10000;

        public PhotonPeer(ConnectionProtocol protocolType)
        {
            TransportProtocol = protocolType;
            UsedProtocol = protocolType;
            LimitOfUnreliableCommands = 20;
            QuickResendAttempts = 0;
        }

        public PhotonPeer(IPhotonPeerListener listener, ConnectionProtocol protocolType) : this(protocolType)
        {
            Listener = listener;
        }

        /// <summary>Not Photon: how many times an original body ran (patched and skipped calls do not count).</summary>
        public static int OriginalCalls
        {
            get
            {
                lock (Originals)
                {
                    int n = 0;
                    foreach (int c in Originals.Values) n += c;
                    return n;
                }
            }
        }

        /// <summary>Not Photon: how many times the original body of <paramref name="member"/> ran ("SendOperation", "get_PeerState", ...).</summary>
        public static int OriginalCallsOf(string member)
        {
            lock (Originals)
            {
                int n;
                return Originals.TryGetValue(member, out n) ? n : 0;
            }
        }

        /// <summary>Not Photon: "member=count ..." of every original body that ran, sorted by name; "none" when none did.</summary>
        public static string OriginalCallSummary()
        {
            lock (Originals)
            {
                List<string> names = new List<string>(Originals.Keys);
                names.Sort(StringComparer.Ordinal);
                List<string> parts = names.ConvertAll(n => n + "=" + Originals[n]);
                return parts.Count == 0 ? "none" : string.Join(" ", parts.ToArray());
            }
        }

        /// <summary>Not Photon: forgets the counts.</summary>
        public static void ResetOriginalCalls()
        {
            lock (Originals) Originals.Clear();
        }

        private static void CountOriginal(MethodInfo m)
        {
            lock (Originals)
            {
                int n;
                Originals.TryGetValue(m.Name, out n);
                Originals[m.Name] = n + 1;
            }
        }

        private static MethodInfo Getter(string property)
        {
            return typeof(PhotonPeer).GetProperty(property, Declared).GetGetMethod(true);
        }

        private static MethodInfo Method(string name, params Type[] parameters)
        {
            MethodInfo m = typeof(PhotonPeer).GetMethod(name, Declared, null, parameters, null);
            if (m == null) throw new MissingMethodException("PhotonPeer", name);
            return m;
        }

        // ---- patchable getters -------------------------------------------------------------

        public IPhotonPeerListener Listener
        {
            get { return (IPhotonPeerListener)Harmony.Call(MListener, this, None, () => { CountOriginal(MListener); return listener; }); }
            protected set { listener = value; }
        }

        public PeerStateValue PeerState
        {
            get { return (PeerStateValue)Harmony.Call(MPeerState, this, None, () => { CountOriginal(MPeerState); return state; }); }
        }

        /// <summary>0: no server time was ever fetched.</summary>
        public int ServerTimeInMilliSeconds
        {
            get { return (int)Harmony.Call(MServerTime, this, None, () => { CountOriginal(MServerTime); return 0; }); }
        }

        public bool IsEncryptionAvailable
        {
            get { return (bool)Harmony.Call(MEncryptionAvailable, this, None, () => { CountOriginal(MEncryptionAvailable); return false; }); }
        }

        /// <summary>200, Photon's value before any roundtrip was measured.</summary>
        public int RoundTripTime
        {
            get { return (int)Harmony.Call(MRoundTripTime, this, None, () => { CountOriginal(MRoundTripTime); return 200; }); }
        }

        // ---- plain members (fields and settings PUN reads or writes) ----------------------

        public string ServerAddress { get; set; }
        public ConnectionProtocol TransportProtocol { get; set; }
        public ConnectionProtocol UsedProtocol { get; private set; }
        public SerializationProtocol SerializationProtocolType { get; set; }
        public int LimitOfUnreliableCommands { get; set; }
        public byte QuickResendAttempts { get; set; }
        public bool CrcEnabled { get; set; }
        public bool IsSendingOnlyAcks { get; set; }
        public bool TrafficStatsEnabled { get; set; }
        public bool IsSimulationEnabled { get; set; }
        public int RoundTripTimeVariance { get { return 0; } }
        public int ResentReliableCommands { get { return 0; } }
        public int PacketLossByCrc { get { return 0; } }
        public int ByteCountLastOperation { get { return 0; } }
        public int QueuedIncomingCommands { get { return 0; } }
        public int QueuedOutgoingCommands { get { return 0; } }
        public long BytesIn { get { return 0; } }
        public long BytesOut { get { return 0; } }
        public string PeerID { get { return "-1"; } }
        public string ClientVersion { get { return "4.1.2.6 (fake)"; } }

        public int LocalTimeInMilliSeconds
        {
            get { return localMs != null ? localMs() : Environment.TickCount - created; }
        }

        public SupportClass.IntegerMillisecondsDelegate LocalMsTimestampDelegate
        {
            set { localMs = value; }
        }

        /// <summary>Milliseconds on the peer's clock (the local timestamp source).</summary>
        public int ConnectionTime
        {
            get { return LocalTimeInMilliSeconds; }
        }

        /// <summary>When SendOutgoingCommands' original body last ran, on the same clock.</summary>
        public int LastSendOutgoingTime
        {
            get { return lastSendOutgoing; }
        }

        public void TrafficStatsReset()
        {
        }

        public string VitalStatsToString(bool all)
        {
            return "fake PhotonPeer: no traffic";
        }

        // ---- patchable methods -----------------------------------------------------------

        public virtual bool Connect(string serverAddress, string applicationName)
        {
            return (bool)Harmony.Call(MConnect2, this, new object[] { serverAddress, applicationName }, () =>
            {
                CountOriginal(MConnect2);
                return Connect(serverAddress, applicationName, null);
            });
        }

        /// <summary>Starts connecting (true) unless the peer is not Disconnected; no server answers.</summary>
        public virtual bool Connect(string serverAddress, string applicationName, object custom)
        {
            return (bool)Harmony.Call(MConnect3, this, new object[] { serverAddress, applicationName, custom }, () =>
            {
                CountOriginal(MConnect3);
                if (state != PeerStateValue.Disconnected)
                {
                    Report(DebugLevel.WARNING, "Connect() can't be called if peer is not Disconnected. Not connecting. State: " + state);
                    return false;
                }
                ServerAddress = serverAddress;
                UsedProtocol = TransportProtocol;
                state = PeerStateValue.Connecting;
                pending.Clear();
                pending.Enqueue(() => { state = PeerStateValue.Disconnecting; RaiseStatus(StatusCode.ExceptionOnConnect); });
                pending.Enqueue(() => { state = PeerStateValue.Disconnected; RaiseStatus(StatusCode.Disconnect); });
                return true;
            });
        }

        public virtual void Disconnect()
        {
            Harmony.Call(MDisconnect, this, None, () =>
            {
                CountOriginal(MDisconnect);
                if (state == PeerStateValue.Disconnected || state == PeerStateValue.Disconnecting) return null;
                state = PeerStateValue.Disconnecting;
                pending.Clear();
                pending.Enqueue(() => { state = PeerStateValue.Disconnected; RaiseStatus(StatusCode.Disconnect); });
                return null;
            });
        }

        public virtual void StopThread()
        {
            Harmony.Call(MStopThread, this, None, () =>
            {
                CountOriginal(MStopThread);
                pending.Clear();
                state = PeerStateValue.Disconnected;
                return null;
            });
        }

        public virtual void FetchServerTimestamp()
        {
            Harmony.Call(MFetchServerTimestamp, this, None, () =>
            {
                CountOriginal(MFetchServerTimestamp);
                if (state != PeerStateValue.Connected)
                {
                    Report(DebugLevel.INFO, "FetchServerTimestamp() was skipped, as the client is not connected. Current ConnectionState: " + state);
                }
                return null;
            });
        }

        /// <summary>False: no connection to exchange keys on.</summary>
        public bool EstablishEncryption()
        {
            return (bool)Harmony.Call(MEstablishEncryption, this, None, () =>
            {
                CountOriginal(MEstablishEncryption);
                Report(DebugLevel.ERROR, "Cannot send op: 250 Not connected. PeerState: " + state);
                return false;
            });
        }

        public virtual void Service()
        {
            Harmony.Call(MService, this, None, () =>
            {
                CountOriginal(MService);
                while (DispatchIncomingCommands())
                {
                }
                while (SendOutgoingCommands())
                {
                }
                return null;
            });
        }

        public virtual bool SendOutgoingCommands()
        {
            return (bool)Harmony.Call(MSendOutgoing, this, None, () =>
            {
                CountOriginal(MSendOutgoing);
                lastSendOutgoing = LocalTimeInMilliSeconds;
                return false;
            });
        }

        public virtual bool SendAcksOnly()
        {
            return (bool)Harmony.Call(MSendAcksOnly, this, None, () =>
            {
                CountOriginal(MSendAcksOnly);
                return false;
            });
        }

        /// <summary>Hands out one pending status change (true) or finds nothing to do (false).</summary>
        public virtual bool DispatchIncomingCommands()
        {
            return (bool)Harmony.Call(MDispatch, this, None, () =>
            {
                CountOriginal(MDispatch);
                if (pending.Count == 0) return false;
                pending.Dequeue()();
                return true;
            });
        }

        /// <summary>False ("not connected").</summary>
        public virtual bool SendOperation(byte operationCode, Dictionary<byte, object> operationParameters, SendOptions sendOptions)
        {
            return (bool)Harmony.Call(MSendOperation, this, new object[] { operationCode, operationParameters, sendOptions }, () =>
            {
                CountOriginal(MSendOperation);
                return NotConnected(operationCode);
            });
        }

        [Obsolete("Use SendOperation() or SendMessage().")]
        public virtual bool OpCustom(byte customOpCode, Dictionary<byte, object> customOpParameters, bool sendReliable, byte channelId = 0, bool encrypt = false)
        {
            return (bool)Harmony.Call(MOpCustom5, this, new object[] { customOpCode, customOpParameters, sendReliable, channelId, encrypt }, () =>
            {
                CountOriginal(MOpCustom5);
                if (encrypt && !IsEncryptionAvailable) throw new ArgumentException("Can't use encryption yet. Exchange keys first.");
                return NotConnected(customOpCode);
            });
        }

        [Obsolete("Use SendOperation() or SendMessage().")]
        public virtual bool OpCustom(OperationRequest operationRequest, bool sendReliable, byte channelId, bool encrypt)
        {
            return (bool)Harmony.Call(MOpCustom4, this, new object[] { operationRequest, sendReliable, channelId, encrypt }, () =>
            {
                CountOriginal(MOpCustom4);
                if (encrypt && !IsEncryptionAvailable) throw new ArgumentException("Can't use encryption yet. Exchange keys first.");
                return NotConnected(operationRequest.OperationCode);
            });
        }

        /// <summary>Registers a custom type with Protocol; false when the type or code is taken.</summary>
        public static bool RegisterType(Type customType, byte code, SerializeMethod serializeMethod, DeserializeMethod constructor)
        {
            return (bool)Harmony.Call(MRegisterType, null, new object[] { customType, code, serializeMethod, constructor }, () =>
            {
                CountOriginal(MRegisterType);
                return Protocol.TryRegisterType(customType, code, serializeMethod, constructor);
            });
        }

        private bool NotConnected(byte operationCode)
        {
            Report(DebugLevel.ERROR, "Cannot send op: " + operationCode + " Not connected. PeerState: " + state);
            return false;
        }

        private void Report(DebugLevel level, string message)
        {
            IPhotonPeerListener l = listener;
            if (l != null && DebugOut >= level) l.DebugReturn(level, message);
        }

        private void RaiseStatus(StatusCode code)
        {
            IPhotonPeerListener l = listener;
            if (l != null) l.OnStatusChanged(code);
        }
    }
}
