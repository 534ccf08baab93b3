// Talking back to the game's Photon code without compiling against it (its
// version is unknown): callbacks by method name on live MonoBehaviours,
// incoming events into the configured delegate, event contents through
// Photon's own serializer, property tables as Photon's Hashtable, lobby
// rooms as PUN 2 RoomInfo objects. Every lookup is by name from the config,
// cached, and fails with one warning.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Reflection;
using BepInEx.Logging;
using HarmonyLib;
using UnityEngine;

namespace Propwash.Shim
{
    internal sealed class PhotonGlue
    {
        private const BindingFlags Any = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;

        private readonly ShimSettings settings;
        private readonly ManualLogSource log;
        private readonly HashSet<string> warned = new HashSet<string>();
        private readonly Dictionary<string, Dictionary<Type, MethodInfo>> callbackCache = new Dictionary<string, Dictionary<Type, MethodInfo>>();
        private MethodInfo serializer, deserializer;
        private bool codecResolved;
        private Type roomInfoType;
        private ConstructorInfo roomInfoCtor;
        private bool roomInfoResolved;

        public PhotonGlue(ShimSettings settings, ManualLogSource log)
        {
            this.settings = settings;
            this.log = log;
        }

        private void WarnOnce(string key, string message)
        {
            if (warned.Add(key))
            {
                log.LogWarning(message);
            }
        }

        public static bool HasMember(object o, string name)
        {
            Type t = o.GetType();
            return t.GetField(name, Any) != null || t.GetProperty(name, Any) != null;
        }

        public static object GetMember(object o, string name)
        {
            Type t = o.GetType();
            FieldInfo f = t.GetField(name, Any);
            if (f != null) return f.GetValue(o);
            PropertyInfo p = t.GetProperty(name, Any);
            return p != null && p.GetIndexParameters().Length == 0 ? p.GetValue(o, null) : null;
        }

        // ---- callbacks ------------------------------------------------------

        /// <summary>
        /// Calls <paramref name="method"/> (e.g. "OnJoinedRoom") on every active MonoBehaviour
        /// that declares it, as PUN's callback targets would be. Missing arguments are
        /// filled with defaults (e.g. DisconnectCause 0). Not per frame: FindObjectsOfType allocates.
        /// </summary>
        public int Callback(string method, params object[] args)
        {
            Dictionary<Type, MethodInfo> byType;
            if (!callbackCache.TryGetValue(method, out byType))
            {
                byType = new Dictionary<Type, MethodInfo>();
                callbackCache[method] = byType;
            }
            int called = 0;
            foreach (UnityEngine.Object o in UnityEngine.Object.FindObjectsOfType(typeof(MonoBehaviour)))
            {
                Type t = o.GetType();
                MethodInfo m;
                if (!byType.TryGetValue(t, out m))
                {
                    m = FindCallback(t, method, args.Length);
                    byType[t] = m;
                }
                if (m == null) continue;
                object[] converted;
                try
                {
                    converted = Arguments(m, args);
                }
                catch (Exception e)
                {
                    // e.g. PUN Classic's (object[] codeAndMsg) where PUN 2 takes (short, string).
                    WarnOnce(t.FullName + method, t.Name + "." + method + " does not take propwash's arguments: " + e.Message);
                    continue;
                }
                try
                {
                    m.Invoke(o, converted);
                    called++;
                }
                catch (TargetInvocationException e)
                {
                    log.LogError(t.Name + "." + method + " threw: " + e.InnerException);
                }
                catch (ArgumentException e)
                {
                    WarnOnce(t.FullName + method, t.Name + "." + method + " does not take propwash's arguments: " + e.Message);
                }
            }
            return called;
        }

        private static MethodInfo FindCallback(Type t, string method, int argCount)
        {
            for (Type c = t; c != null && c != typeof(MonoBehaviour); c = c.BaseType)
            {
                foreach (MethodInfo m in c.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.DeclaredOnly))
                {
                    if (m.Name == method && m.GetParameters().Length >= argCount)
                    {
                        return m;
                    }
                }
            }
            return null;
        }

        private static object[] Arguments(MethodInfo m, object[] given)
        {
            ParameterInfo[] ps = m.GetParameters();
            object[] args = new object[ps.Length];
            for (int i = 0; i < ps.Length; i++)
            {
                Type pt = ps[i].ParameterType;
                object v = i < given.Length ? given[i] : null;
                EnumName named = v as EnumName;
                if (named != null) v = named.For(pt);
                if (v != null && !pt.IsInstanceOfType(v))
                {
                    v = pt.IsEnum ? Enum.ToObject(pt, Convert.ToInt64(v)) : Convert.ChangeType(v, pt);
                }
                args[i] = v ?? (pt.IsValueType ? Activator.CreateInstance(pt) : null);
            }
            return args;
        }

        /// <summary>
        /// A callback argument given by the name of a Photon enum member (e.g. DisconnectCause's
        /// "DisconnectByClientLogic"): Photon's numbering differs between versions, its names do not.
        /// </summary>
        public sealed class EnumName
        {
            public readonly string Name;

            public EnumName(string name)
            {
                Name = name;
            }

            /// <summary>That member of <paramref name="t"/>; its default (0) when <paramref name="t"/> lacks it or is no enum.</summary>
            public object For(Type t)
            {
                if (!t.IsEnum) return null;
                return Enum.IsDefined(t, Name) ? Enum.Parse(t, Name) : Activator.CreateInstance(t);
            }

            public override string ToString()
            {
                return Name;
            }
        }

        // ---- incoming game events -------------------------------------------

        /// <summary>Hands an event to the configured sink (PUN 2 EventReceived or PUN Classic OnEventCall).</summary>
        public void DeliverEvent(byte code, int sender, object content)
        {
            Delegate sink = ResolveSink();
            if (sink == null) return;
            ParameterInfo[] ps = sink.Method.GetParameters();
            try
            {
                if (ps.Length == 3)
                {
                    sink.DynamicInvoke(code, content, sender);
                }
                else if (ps.Length == 1)
                {
                    object data = MakeEventData(code, sender, content);
                    if (data != null) sink.DynamicInvoke(data);
                }
                else
                {
                    WarnOnce("sink-shape", "Photon.EventSink takes " + ps.Length + " arguments; expected (EventData) or (byte, object, int)");
                }
            }
            catch (TargetInvocationException e)
            {
                log.LogError("a game event handler threw: " + e.InnerException);
            }
        }

        /// <summary>Walks "Type:Static.Member.Member" to the delegate (null when nobody listens).</summary>
        private Delegate ResolveSink()
        {
            string path = settings.EventSink.Value ?? "";
            int colon = path.IndexOf(':');
            if (colon <= 0)
            {
                WarnOnce("sink", "Photon.EventSink \"" + path + "\" is not Type:Member; incoming game events are dropped");
                return null;
            }
            Type t = AccessTools.TypeByName(path.Substring(0, colon));
            if (t == null)
            {
                WarnOnce("sink", "Photon.EventSink type " + path.Substring(0, colon) + " not found; incoming game events are dropped");
                return null;
            }
            object current = null;
            Type currentType = t;
            foreach (string member in path.Substring(colon + 1).Split('.'))
            {
                FieldInfo f = currentType.GetField(member, Any);
                PropertyInfo p = f == null ? currentType.GetProperty(member, Any) : null;
                if (f == null && p == null)
                {
                    WarnOnce("sink", "Photon.EventSink: " + currentType.Name + " has no member " + member + "; incoming game events are dropped");
                    return null;
                }
                current = f != null ? f.GetValue(current) : p.GetValue(current, null);
                if (current == null) return null;
                currentType = current.GetType();
            }
            Delegate d = current as Delegate;
            if (d == null) WarnOnce("sink", "Photon.EventSink does not end in a delegate; incoming game events are dropped");
            return d;
        }

        /// <summary>PUN 2's EventData: Code, and Parameters[245] = content, [254] = sender (Photon's parameter codes).</summary>
        private object MakeEventData(byte code, int sender, object content)
        {
            Type t = AccessTools.TypeByName(settings.EventDataType.Value);
            if (t == null)
            {
                WarnOnce("eventdata", "Photon.EventDataType " + settings.EventDataType.Value + " not found; incoming game events are dropped");
                return null;
            }
            object data = Activator.CreateInstance(t);
            FieldInfo codeField = t.GetField("Code", Any);
            if (codeField != null) codeField.SetValue(data, code);
            else if (t.GetProperty("Code", Any) != null) t.GetProperty("Code", Any).SetValue(data, code, null);
            object parameters = GetMember(data, "Parameters");
            if (parameters == null)
            {
                FieldInfo pf = t.GetField("Parameters", Any);
                if (pf != null)
                {
                    parameters = Activator.CreateInstance(pf.FieldType);
                    pf.SetValue(data, parameters);
                }
            }
            MethodInfo add = parameters == null ? null : parameters.GetType().GetMethod("set_Item", new[] { typeof(byte), typeof(object) })
                ?? parameters.GetType().GetMethod("Add", new[] { typeof(byte), typeof(object) });
            if (add == null)
            {
                WarnOnce("eventdata", t.Name + ".Parameters has no [byte] = object setter; incoming game events are dropped");
                return null;
            }
            add.Invoke(parameters, new object[] { (byte)245, content });
            add.Invoke(parameters, new object[] { (byte)254, sender });
            return data;
        }

        // ---- serialization --------------------------------------------------

        private void ResolveCodec()
        {
            if (codecResolved) return;
            codecResolved = true;
            serializer = StaticMethod(settings.Serializer.Value, typeof(object));
            deserializer = StaticMethod(settings.Deserializer.Value, typeof(byte[]));
            if (serializer == null || deserializer == null)
            {
                log.LogWarning("Photon serializer not found (" + settings.Serializer.Value + " / " + settings.Deserializer.Value
                    + "): only null, byte[], strings and numbers can be sent");
            }
        }

        private static MethodInfo StaticMethod(string target, Type parameter)
        {
            int colon = (target ?? "").LastIndexOf(':');
            if (colon <= 0) return null;
            Type t = AccessTools.TypeByName(target.Substring(0, colon));
            return t == null ? null : t.GetMethod(target.Substring(colon + 1), BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static, null, new[] { parameter }, null);
        }

        /// <summary>Photon's bytes for <paramref name="value"/>, or null when no serializer is available.</summary>
        public byte[] Serialize(object value)
        {
            ResolveCodec();
            return serializer == null ? null : serializer.Invoke(null, new[] { value }) as byte[];
        }

        public object Deserialize(byte[] bytes)
        {
            ResolveCodec();
            if (deserializer == null)
            {
                WarnOnce("deserialize", "a Photon-serialized value arrived but no deserializer is configured; delivered as raw bytes");
                return bytes;
            }
            return deserializer.Invoke(null, new object[] { bytes });
        }

        /// <summary>A new property table of the configured Hashtable type (System.Collections.Hashtable if absent).</summary>
        public IDictionary NewHashtable()
        {
            Type t = AccessTools.TypeByName(settings.HashtableType.Value);
            if (t != null && typeof(IDictionary).IsAssignableFrom(t))
            {
                return (IDictionary)Activator.CreateInstance(t);
            }
            WarnOnce("hashtable", "Photon.HashtableType " + settings.HashtableType.Value + " not found; callbacks get a System.Collections.Hashtable");
            return new Hashtable();
        }

        // ---- PhotonNetwork.CurrentRoom ----------------------------------------

        /// <summary>
        /// A Photon Room for PhotonNetwork.CurrentRoom, built through PUN 2's Room(string,
        /// RoomOptions[, bool]) constructor (or a (string, Hashtable) one) with a fresh RoomOptions;
        /// <paramref name="customProperties"/> is its live CustomProperties table, kept current by
        /// the caller. Null (one warning) when Photon.RoomType is empty or cannot be built.
        /// </summary>
        public object NewRoom(string name, int maxPlayers, out IDictionary customProperties)
        {
            customProperties = null;
            string typeName = (settings.RoomType.Value ?? "").Trim();
            if (typeName.Length == 0) return null;
            Type t = AccessTools.TypeByName(typeName);
            if (t == null)
            {
                WarnOnce("room", "Photon.RoomType " + typeName + " not found; PhotonNetwork.CurrentRoom stays Photon's (null)");
                return null;
            }
            try
            {
                object room = null;
                foreach (ConstructorInfo c in t.GetConstructors(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
                {
                    ParameterInfo[] ps = c.GetParameters();
                    if (ps.Length < 2 || ps[0].ParameterType != typeof(string)) continue;
                    object second;
                    Type options = ps[1].ParameterType;
                    if (typeof(IDictionary).IsAssignableFrom(options) && !options.IsAbstract && !options.IsInterface)
                    {
                        second = Activator.CreateInstance(options);
                    }
                    else if (!options.IsAbstract && options.GetConstructor(Type.EmptyTypes) != null
                        && (options.GetField("CustomRoomProperties", Any) != null || options.GetProperty("CustomRoomProperties", Any) != null))
                    {
                        second = Activator.CreateInstance(options);
                        SetMember(second, "MaxPlayers", maxPlayers);
                    }
                    else
                    {
                        continue;
                    }
                    object[] args = new object[ps.Length];
                    args[0] = name ?? "";
                    args[1] = second;
                    for (int i = 2; i < ps.Length; i++)
                    {
                        Type pt = ps[i].ParameterType;
                        args[i] = ps[i].HasDefaultValue ? ps[i].DefaultValue : pt.IsValueType ? Activator.CreateInstance(pt) : null;
                    }
                    room = c.Invoke(args);
                    break;
                }
                if (room == null)
                {
                    WarnOnce("room", t.FullName + " has no (string, RoomOptions) constructor; PhotonNetwork.CurrentRoom stays Photon's (null)");
                    return null;
                }
                customProperties = GetMember(room, "CustomProperties") as IDictionary;
                if (customProperties == null)
                {
                    WarnOnce("room", t.FullName + " has no CustomProperties table; PhotonNetwork.CurrentRoom stays Photon's (null)");
                    return null;
                }
                return room;
            }
            catch (Exception e)
            {
                WarnOnce("room", t.FullName + " could not be built (" + (e.InnerException ?? e).Message + "); PhotonNetwork.CurrentRoom stays Photon's (null)");
                return null;
            }
        }

        /// <summary>Sets a field or property by name, converting numbers (RoomOptions.MaxPlayers is a byte in older PUN 2, an int in newer); absent: nothing.</summary>
        private static void SetMember(object o, string member, object value)
        {
            Type t = o.GetType();
            FieldInfo f = t.GetField(member, Any);
            PropertyInfo p = f == null ? t.GetProperty(member, Any) : null;
            Type type = f != null ? f.FieldType : p != null && p.CanWrite ? p.PropertyType : null;
            if (type == null) return;
            object v = Convert.ChangeType(value, type);
            if (f != null) f.SetValue(o, v);
            else p.SetValue(o, v, null);
        }

        // ---- the room list --------------------------------------------------

        /// <summary>
        /// PUN 2's RoomInfo has a (string name, Hashtable properties) constructor that reads
        /// Photon's well-known byte keys (255 MaxPlayers, 252 PlayerCount, 253 IsOpen,
        /// 254 IsVisible, 251 RemovedFromList) and keeps the string keys as custom properties.
        /// </summary>
        private bool ResolveRoomInfo()
        {
            if (roomInfoResolved) return roomInfoCtor != null;
            roomInfoResolved = true;
            string name = (settings.RoomInfoType.Value ?? "").Trim();
            if (name.Length == 0) return false;
            Type t = AccessTools.TypeByName(name);
            if (t == null)
            {
                log.LogWarning("Photon.RoomInfoType " + name + " not found; OnRoomListUpdate is not raised");
                return false;
            }
            foreach (ConstructorInfo c in t.GetConstructors(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            {
                ParameterInfo[] ps = c.GetParameters();
                if (ps.Length == 2 && ps[0].ParameterType == typeof(string) && typeof(IDictionary).IsAssignableFrom(ps[1].ParameterType)
                    && !ps[1].ParameterType.IsAbstract && !ps[1].ParameterType.IsInterface)
                {
                    roomInfoType = t;
                    roomInfoCtor = c;
                    return true;
                }
            }
            log.LogWarning(t.FullName + " has no (string, Hashtable) constructor; OnRoomListUpdate is not raised");
            return false;
        }

        /// <summary>An empty List&lt;RoomInfo&gt;, or null (one warning) when RoomInfo cannot be built.</summary>
        public IList NewRoomList()
        {
            return ResolveRoomInfo() ? (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(roomInfoType)) : null;
        }

        /// <summary>An empty property table of the type RoomInfo's constructor takes; only after NewRoomList gave a list.</summary>
        public IDictionary NewRoomProperties()
        {
            return (IDictionary)Activator.CreateInstance(roomInfoCtor.GetParameters()[1].ParameterType);
        }

        /// <summary>A RoomInfo; only after NewRoomList gave a list.</summary>
        public object NewRoomInfo(string name, IDictionary properties)
        {
            return roomInfoCtor.Invoke(new object[] { name, properties });
        }
    }
}
