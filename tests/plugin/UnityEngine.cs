// FAKE UnityEngine.dll for tests/plugin.rs: a working stand-in for the
// UnityEngine members Propwash.Shim uses (the same surface as
// shim/stubs/UnityEngine.cs, with bodies) and those the PUN Classic
// stand-in (tests/plugin/PunClassic.cs) uses, so the Propwash.Shim.dll that
// shim/build.sh compiles against the stubs runs under mono. Never shipped.
//
// One scene: every live Object is in it; GameObject.Find and
// FindObjectsOfType look there. Unity's messages (Awake, FixedUpdate,
// Update, OnDestroy) are sent by Engine, by name, as Unity would;
// SendMessage calls the named method (0 or 1 argument) on every
// MonoBehaviour of an active GameObject. A method a message calls that
// throws is logged and counted (Engine.Exceptions), as Unity logs it.
// Prefabs: GameObject.CreatePrefab makes an asset (outside the scene, no
// Awake); Resources.Add(path, asset) files it for Resources.Load; and
// Object.Instantiate clones a GameObject as Unity does: new components,
// their public and [SerializeField] fields copied (references into the
// original remapped to the clone, lists and arrays copied), then Awake.
// No hierarchy (a GameObject has no children), no coroutines, no scenes.
// Everything runs on the thread that calls it; nothing is thread-safe,
// except Debug's logging.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace UnityEngine
{
    public enum SendMessageOptions
    {
        RequireReceiver = 0,
        DontRequireReceiver = 1,
    }

    [Flags]
    public enum HideFlags
    {
        None = 0,
        HideInHierarchy = 1,
        HideInInspector = 2,
        DontSaveInEditor = 4,
        NotEditable = 8,
        DontSaveInBuild = 16,
        DontUnloadUnusedAsset = 32,
        DontSave = 52,
        HideAndDontSave = 61,
    }

    /// <summary>Marks a non-public field Unity serializes (Instantiate copies it).</summary>
    [AttributeUsage(AttributeTargets.Field)]
    public sealed class SerializeField : Attribute
    {
    }

    [AttributeUsage(AttributeTargets.Field)]
    public sealed class HideInInspector : Attribute
    {
    }

    public class Object
    {
        /// <summary>The scene: live objects in creation order.</summary>
        internal static readonly List<Object> Live = new List<Object>();
        internal bool destroyed;

        public string name { get; set; }

        public HideFlags hideFlags { get; set; }

        /// <summary>Live objects of <paramref name="type"/>; components only when their GameObject is active.</summary>
        public static Object[] FindObjectsOfType(Type type)
        {
            List<Object> found = new List<Object>();
            foreach (Object o in Live)
            {
                if (o.destroyed || !type.IsInstanceOfType(o)) continue;
                Component c = o as Component;
                if (c != null && !c.gameObject.activeSelf) continue;
                found.Add(o);
            }
            Array typed = Array.CreateInstance(type, found.Count);
            for (int i = 0; i < found.Count; i++) typed.SetValue(found[i], i);
            return typed as Object[] ?? found.ToArray();
        }

        /// <summary>Destroys at once (Unity waits for the end of the frame): OnDestroy, then gone.</summary>
        public static void Destroy(Object o)
        {
            if ((object)o == null || o.destroyed) return;
            GameObject go = o as GameObject;
            if (go != null)
            {
                foreach (Component c in go.Components.ToArray()) Destroy(c);
            }
            else if (o is MonoBehaviour)
            {
                Engine.Send(o, "OnDestroy");
            }
            o.destroyed = true;
            Live.Remove(o);
            Component comp = o as Component;
            if (comp != null && comp.owner != null) comp.owner.Components.Remove(comp);
        }

        public static void DestroyImmediate(Object o)
        {
            Destroy(o);
        }

        /// <summary>Nothing to do: the fake has one scene that is never unloaded.</summary>
        public static void DontDestroyOnLoad(Object target)
        {
        }

        /// <summary>Clones a GameObject (or a component's GameObject, returning the clone's component) at a pose; see the top of the file.</summary>
        public static Object Instantiate(Object original, Vector3 position, Quaternion rotation)
        {
            if ((object)original == null) throw new ArgumentException("The Object you want to instantiate is null.");
            Component c = original as Component;
            GameObject source = c != null ? c.gameObject : original as GameObject;
            if (source == null) throw new ArgumentException("the fake Unity instantiates GameObjects and components only, not " + original.GetType().Name);
            GameObject clone = GameObject.CloneOf(source, position, rotation);
            return c == null ? (Object)clone : clone.Components[source.Components.IndexOf(c)];
        }

        public static T Instantiate<T>(T original, Vector3 position, Quaternion rotation) where T : Object
        {
            return (T)Instantiate((Object)original, position, rotation);
        }

        public static Object Instantiate(Object original)
        {
            GameObject go = original as GameObject;
            Transform t = go != null ? go.transform : original is Component ? ((Component)original).transform : null;
            return Instantiate(original, t != null ? t.position : Vector3.zero, t != null ? t.rotation : Quaternion.identity);
        }

        /// <summary>Unity's equality: a destroyed object equals null.</summary>
        public static bool operator ==(Object x, Object y)
        {
            bool xNull = (object)x == null || x.destroyed, yNull = (object)y == null || y.destroyed;
            if (xNull || yNull) return xNull && yNull;
            return ReferenceEquals(x, y);
        }

        public static bool operator !=(Object x, Object y)
        {
            return !(x == y);
        }

        public static implicit operator bool(Object o)
        {
            return o != null;
        }

        public override bool Equals(object other)
        {
            Object o = other as Object;
            return (other == null || o != null) && this == o;
        }

        public override int GetHashCode()
        {
            return RuntimeHelpers.GetHashCode(this);
        }

        public override string ToString()
        {
            return name + " (" + GetType().Name + ")";
        }
    }

    public class ScriptableObject : Object
    {
        public static T CreateInstance<T>() where T : ScriptableObject, new()
        {
            T o = new T();
            o.name = typeof(T).Name;
            return o;
        }
    }

    public class Component : Object
    {
        internal GameObject owner;

        public GameObject gameObject { get { return owner; } }
        public Transform transform { get { return owner.transform; } }

        public T GetComponent<T>()
        {
            return owner.GetComponent<T>();
        }

        public T[] GetComponents<T>()
        {
            return owner.GetComponents<T>();
        }

        public T[] GetComponentsInChildren<T>(bool includeInactive)
        {
            return owner.GetComponentsInChildren<T>(includeInactive);
        }

        public void SendMessage(string methodName)
        {
            owner.SendMessage(methodName);
        }

        public void SendMessage(string methodName, object value)
        {
            owner.SendMessage(methodName, value);
        }

        public void SendMessage(string methodName, object value, SendMessageOptions options)
        {
            owner.SendMessage(methodName, value, options);
        }
    }

    public class Behaviour : Component
    {
        private bool isEnabled = true;

        public bool enabled
        {
            get { return isEnabled; }
            set { isEnabled = value; }
        }
    }

    public class MonoBehaviour : Behaviour
    {
    }

    public sealed class GameObject : Object
    {
        internal readonly List<Component> Components = new List<Component>();
        /// <summary>A prefab asset: outside the scene; its components get no messages.</summary>
        internal readonly bool asset;

        public GameObject() : this("New Game Object")
        {
        }

        public GameObject(string name) : this(name, false, true)
        {
        }

        private GameObject(string name, bool asset, bool withTransform)
        {
            this.name = name;
            this.asset = asset;
            activeSelf = true;
            if (!asset) Live.Add(this);
            if (withTransform) transform = AddComponent<Transform>();
        }

        /// <summary>Not Unity: a prefab asset (what a Resources folder holds), to fill with AddComponent and file with Resources.Add.</summary>
        public static GameObject CreatePrefab(string name)
        {
            return new GameObject(name, true, true);
        }

        public bool activeSelf { get; private set; }

        public bool activeInHierarchy
        {
            get { return activeSelf; }
        }

        public void SetActive(bool value)
        {
            activeSelf = value;
        }

        public static GameObject Find(string name)
        {
            foreach (Object o in Live)
            {
                GameObject go = o as GameObject;
                if (go != null && !go.destroyed && go.activeSelf && go.name == name) return go;
            }
            return null;
        }

        public Transform transform { get; private set; }

        public T GetComponent<T>()
        {
            foreach (Component c in Components)
            {
                if (!c.destroyed && c is T) return (T)(object)c;
            }
            return default(T);
        }

        public T[] GetComponents<T>()
        {
            List<T> found = new List<T>();
            foreach (Component c in Components)
            {
                if (!c.destroyed && c is T) found.Add((T)(object)c);
            }
            return found.ToArray();
        }

        /// <summary>The fake has no hierarchy: this GameObject's own components.</summary>
        public T[] GetComponentsInChildren<T>(bool includeInactive)
        {
            return GetComponents<T>();
        }

        public T[] GetComponentsInChildren<T>()
        {
            return GetComponents<T>();
        }

        /// <summary>Adds a component and, as Unity does, sends it Awake at once (not on a prefab asset).</summary>
        public T AddComponent<T>() where T : Component, new()
        {
            T c = new T();
            c.owner = this;
            c.name = name;
            Components.Add(c);
            if (!asset)
            {
                Live.Add(c);
                if (c is MonoBehaviour && activeSelf) Engine.Send(c, "Awake");
            }
            return c;
        }

        public void SendMessage(string methodName)
        {
            Engine.Message(this, methodName, null, false, SendMessageOptions.RequireReceiver);
        }

        public void SendMessage(string methodName, object value)
        {
            Engine.Message(this, methodName, value, true, SendMessageOptions.RequireReceiver);
        }

        public void SendMessage(string methodName, object value, SendMessageOptions options)
        {
            Engine.Message(this, methodName, value, true, options);
        }

        internal static GameObject CloneOf(GameObject source, Vector3 position, Quaternion rotation)
        {
            GameObject clone = new GameObject(source.name + "(Clone)", false, false);
            clone.activeSelf = source.activeSelf;
            Dictionary<Object, Object> map = new Dictionary<Object, Object>();
            map[source] = clone;
            foreach (Component c in source.Components)
            {
                Component copy = (Component)Activator.CreateInstance(c.GetType(), true);
                copy.owner = clone;
                copy.name = clone.name;
                clone.Components.Add(copy);
                Live.Add(copy);
                map[c] = copy;
                if (copy is Transform) clone.transform = (Transform)copy;
            }
            foreach (Component c in source.Components) Serialized.Copy(c, (Component)map[c], map);
            clone.transform.position = position;
            clone.transform.rotation = rotation;
            if (clone.activeSelf)
            {
                foreach (Component c in clone.Components.ToArray())
                {
                    if (c is MonoBehaviour && !c.destroyed) Engine.Send(c, "Awake");
                }
            }
            return clone;
        }
    }

    /// <summary>What Instantiate copies: the fields Unity serializes.</summary>
    internal static class Serialized
    {
        private const BindingFlags Fields = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.DeclaredOnly;

        public static void Copy(Component from, Component to, Dictionary<Object, Object> map)
        {
            Transform t = from as Transform;
            if (t != null)
            {
                ((Transform)to).position = t.position;
                ((Transform)to).rotation = t.rotation;
                return;
            }
            Behaviour b = from as Behaviour;
            if (b != null) ((Behaviour)to).enabled = b.enabled;
            for (Type type = from.GetType(); type != null && type != typeof(MonoBehaviour) && type != typeof(Component); type = type.BaseType)
            {
                if (type.Assembly == typeof(Object).Assembly) break;
                foreach (FieldInfo f in type.GetFields(Fields))
                {
                    if (f.IsInitOnly || f.IsNotSerialized) continue;
                    if (!f.IsPublic && !f.IsDefined(typeof(SerializeField), false)) continue;
                    f.SetValue(to, Remap(f.GetValue(from), map));
                }
            }
        }

        private static object Remap(object value, Dictionary<Object, Object> map)
        {
            Object o = value as Object;
            if ((object)o != null)
            {
                Object mapped;
                return map.TryGetValue(o, out mapped) ? mapped : o;
            }
            Array a = value as Array;
            if (a != null)
            {
                Array copy = Array.CreateInstance(a.GetType().GetElementType(), a.Length);
                for (int i = 0; i < a.Length; i++) copy.SetValue(Remap(a.GetValue(i), map), i);
                return copy;
            }
            IList list = value as IList;
            if (list != null && value.GetType().IsGenericType && value.GetType().GetGenericTypeDefinition() == typeof(List<>))
            {
                IList copy = (IList)Activator.CreateInstance(value.GetType());
                foreach (object item in list) copy.Add(Remap(item, map));
                return copy;
            }
            return value;
        }
    }

    public class Transform : Component
    {
        public Vector3 position { get; set; }
        public Quaternion rotation { get; set; }
    }

    public sealed class Rigidbody : Component
    {
        public Vector3 velocity { get; set; }
        public Vector3 angularVelocity { get; set; }
        public bool isKinematic { get; set; }
    }

    public struct Vector3
    {
        public float x;
        public float y;
        public float z;

        public Vector3(float x, float y, float z)
        {
            this.x = x;
            this.y = y;
            this.z = z;
        }

        public static Vector3 zero
        {
            get { return new Vector3(0, 0, 0); }
        }

        public static Vector3 one
        {
            get { return new Vector3(1, 1, 1); }
        }

        public float sqrMagnitude
        {
            get { return x * x + y * y + z * z; }
        }

        public float magnitude
        {
            get { return (float)Math.Sqrt(sqrMagnitude); }
        }

        public static Vector3 operator +(Vector3 a, Vector3 b)
        {
            return new Vector3(a.x + b.x, a.y + b.y, a.z + b.z);
        }

        public static Vector3 operator -(Vector3 a, Vector3 b)
        {
            return new Vector3(a.x - b.x, a.y - b.y, a.z - b.z);
        }

        public static Vector3 operator *(Vector3 a, float d)
        {
            return new Vector3(a.x * d, a.y * d, a.z * d);
        }

        /// <summary>Unity's approximate equality (squared distance under 1e-10).</summary>
        public static bool operator ==(Vector3 a, Vector3 b)
        {
            return (a - b).sqrMagnitude < 9.99999944E-11f;
        }

        public static bool operator !=(Vector3 a, Vector3 b)
        {
            return !(a == b);
        }

        public override bool Equals(object other)
        {
            if (!(other is Vector3)) return false;
            Vector3 v = (Vector3)other;
            return x.Equals(v.x) && y.Equals(v.y) && z.Equals(v.z);
        }

        public override int GetHashCode()
        {
            return x.GetHashCode() ^ (y.GetHashCode() << 2) ^ (z.GetHashCode() >> 2);
        }

        public override string ToString()
        {
            return string.Format(CultureInfo.InvariantCulture, "({0:F2}, {1:F2}, {2:F2})", x, y, z);
        }
    }

    public struct Quaternion
    {
        public float x;
        public float y;
        public float z;
        public float w;

        public Quaternion(float x, float y, float z, float w)
        {
            this.x = x;
            this.y = y;
            this.z = z;
            this.w = w;
        }

        public static Quaternion identity
        {
            get { return new Quaternion(0, 0, 0, 1); }
        }

        public static float Dot(Quaternion a, Quaternion b)
        {
            return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
        }

        /// <summary>The angle in degrees between two rotations.</summary>
        public static float Angle(Quaternion a, Quaternion b)
        {
            float dot = Math.Min(Math.Abs(Dot(a, b)), 1.0f);
            return dot > 0.999999f ? 0.0f : (float)(Math.Acos(dot) * 2.0 * 180.0 / Math.PI);
        }

        /// <summary>Unity's equality: the dot product above 0.999999.</summary>
        public static bool operator ==(Quaternion a, Quaternion b)
        {
            return Dot(a, b) > 0.999999f;
        }

        public static bool operator !=(Quaternion a, Quaternion b)
        {
            return !(a == b);
        }

        public override bool Equals(object other)
        {
            if (!(other is Quaternion)) return false;
            Quaternion q = (Quaternion)other;
            return x.Equals(q.x) && y.Equals(q.y) && z.Equals(q.z) && w.Equals(q.w);
        }

        public override int GetHashCode()
        {
            return x.GetHashCode() ^ (y.GetHashCode() << 2) ^ (z.GetHashCode() >> 2) ^ (w.GetHashCode() >> 1);
        }

        public override string ToString()
        {
            return string.Format(CultureInfo.InvariantCulture, "({0:F3}, {1:F3}, {2:F3}, {3:F3})", x, y, z, w);
        }
    }

    public static class Mathf
    {
        public static float Abs(float f)
        {
            return Math.Abs(f);
        }

        public static float Min(float a, float b)
        {
            return a < b ? a : b;
        }

        public static float Max(float a, float b)
        {
            return a > b ? a : b;
        }

        public static float Clamp(float value, float min, float max)
        {
            return value < min ? min : value > max ? max : value;
        }
    }

    public static class Time
    {
        private static readonly Stopwatch Clock = Stopwatch.StartNew();
        internal static double Offset;

        /// <summary>Seconds since start, plus whatever Engine.AdvanceClock added.</summary>
        public static float realtimeSinceStartup
        {
            get { return (float)(Clock.Elapsed.TotalSeconds + Offset); }
        }
    }

    public static class Application
    {
        /// <summary>Settable here: the test plays a game of any version.</summary>
        public static string version { get; set; }
        /// <summary>Settable here: "&lt;game&gt;/DRL Simulator_Data/StreamingAssets" in the test's game folder.</summary>
        public static string streamingAssetsPath { get; set; }

        public static bool isPlaying
        {
            get { return true; }
        }

        public static bool runInBackground { get; set; }
    }

    /// <summary>Unity's log: one line on stdout per message ("Debug.Log: ...", "Debug.LogWarning: ...", "Debug.LogError: ..."), also kept for Logged.</summary>
    public static class Debug
    {
        private static readonly object Gate = new object();

        public static void Log(object message)
        {
            Write("Debug.Log", message);
        }

        public static void LogWarning(object message)
        {
            Write("Debug.LogWarning", message);
            lock (Gate) Engine.Warnings++;
        }

        public static void LogError(object message)
        {
            Write("Debug.LogError", message);
            lock (Gate) Engine.Errors++;
        }

        public static void LogException(Exception exception)
        {
            Write("Debug.LogException", exception);
            lock (Gate) Engine.Errors++;
        }

        private static void Write(string kind, object message)
        {
            string line = kind + ": " + (message == null ? "Null" : message.ToString());
            lock (Gate)
            {
                Recorded.Add(line);
                if (!Engine.Quiet) Console.WriteLine(line);
            }
        }

        /// <summary>Not Unity: every line logged so far ("Debug.LogError: ..."), for the test to look at.</summary>
        public static List<string> Logged()
        {
            lock (Gate) return new List<string>(Recorded);
        }

        private static readonly List<string> Recorded = new List<string>();
    }

    /// <summary>A Resources folder: Load finds what the test filed with Add.</summary>
    public static class Resources
    {
        private static readonly Dictionary<string, Object> Assets = new Dictionary<string, Object>();

        /// <summary>Not Unity: files <paramref name="asset"/> (a prefab from GameObject.CreatePrefab, a ScriptableObject, ...) under a path.</summary>
        public static void Add(string path, Object asset)
        {
            Assets[path] = asset;
        }

        /// <summary>Not Unity: empties the folder.</summary>
        public static void Clear()
        {
            Assets.Clear();
        }

        public static Object Load(string path)
        {
            return Load(path, typeof(Object));
        }

        /// <summary>The asset filed under <paramref name="path"/> when it is a <paramref name="systemTypeInstance"/>, else null.</summary>
        public static Object Load(string path, Type systemTypeInstance)
        {
            Object o;
            if (path == null || !Assets.TryGetValue(path, out o)) return null;
            return systemTypeInstance.IsInstanceOfType(o) ? o : null;
        }

        public static T Load<T>(string path) where T : Object
        {
            return (T)Load(path, typeof(T));
        }
    }

    /// <summary>Not Unity: the player loop, driven by the test.</summary>
    public static class Engine
    {
        private const BindingFlags Instance = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance;

        /// <summary>One frame: FixedUpdate, then Update, on every enabled MonoBehaviour of an active GameObject.</summary>
        public static void Frame()
        {
            foreach (string message in new[] { "FixedUpdate", "Update" })
            {
                foreach (Object o in Object.Live.ToArray())
                {
                    MonoBehaviour b = o as MonoBehaviour;
                    if (b == null || b.destroyed || !b.enabled || !b.gameObject.activeSelf) continue;
                    Send(b, message);
                }
            }
        }

        /// <summary>Moves Time.realtimeSinceStartup forward (for timers such as PUN's send intervals).</summary>
        public static void AdvanceClock(float seconds)
        {
            Time.Offset += seconds;
        }

        /// <summary>Calls the parameterless method <paramref name="message"/> the object's class declares (any visibility), if any.</summary>
        public static void Send(Object o, string message)
        {
            for (Type t = o.GetType(); t != null && t != typeof(MonoBehaviour); t = t.BaseType)
            {
                MethodInfo m = t.GetMethod(message, Instance | BindingFlags.DeclaredOnly, null, Type.EmptyTypes, null);
                if (m == null) continue;
                Invoke(o, m, null);
                return;
            }
        }

        /// <summary>
        /// SendMessage: on an active GameObject, every MonoBehaviour (enabled or not, as Unity)
        /// whose class has a method of that name taking nothing, or one parameter the value fits.
        /// </summary>
        internal static void Message(GameObject go, string methodName, object value, bool hasValue, SendMessageOptions options)
        {
            if (go.destroyed || go.asset || !go.activeSelf) return;
            bool received = false;
            foreach (Component c in go.Components.ToArray())
            {
                if (!(c is MonoBehaviour) || c.destroyed) continue;
                MethodInfo zero = null, one = null;
                bool named = false;
                for (Type t = c.GetType(); t != null && t != typeof(MonoBehaviour) && one == null && zero == null; t = t.BaseType)
                {
                    foreach (MethodInfo m in t.GetMethods(Instance | BindingFlags.DeclaredOnly))
                    {
                        if (m.Name != methodName) continue;
                        named = true;
                        ParameterInfo[] ps = m.GetParameters();
                        if (ps.Length == 0 && zero == null) zero = m;
                        if (ps.Length == 1 && one == null && hasValue && (value == null ? !ps[0].ParameterType.IsValueType : ps[0].ParameterType.IsInstanceOfType(value))) one = m;
                    }
                }
                if (one != null) Invoke(c, one, new object[] { value });
                else if (zero != null) Invoke(c, zero, null);
                else if (named) Debug.LogError("Failed to call function " + methodName + " of class " + c.GetType().Name + ": no overload takes " + (hasValue && value != null ? "a " + value.GetType().Name : "no argument"));
                received |= one != null || zero != null;
            }
            if (!received && options == SendMessageOptions.RequireReceiver) Debug.LogError("SendMessage " + methodName + " has no receiver!");
        }

        private static void Invoke(Object o, MethodInfo m, object[] args)
        {
            try
            {
                m.Invoke(o, args);
            }
            catch (TargetInvocationException e)
            {
                // Unity logs an exception thrown by a message and goes on with the frame.
                Console.WriteLine("EXCEPTION in " + m.DeclaringType.Name + "." + m.Name + ": " + e.InnerException);
                Exceptions++;
            }
        }

        /// <summary>Exceptions thrown out of messages so far (Unity would have logged them).</summary>
        public static int Exceptions { get; private set; }

        /// <summary>Debug.LogError / LogException calls so far.</summary>
        public static int Errors { get; internal set; }

        /// <summary>Debug.LogWarning calls so far.</summary>
        public static int Warnings { get; internal set; }

        /// <summary>When true, Debug writes nothing (it still counts).</summary>
        public static bool Quiet { get; set; }
    }
}
