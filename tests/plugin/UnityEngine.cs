// FAKE UnityEngine.dll for tests/plugin.rs: a working stand-in for the
// UnityEngine members Propwash.Shim uses (the same surface as
// shim/stubs/UnityEngine.cs, with bodies), so the Propwash.Shim.dll that
// shim/build.sh compiles against the stubs runs under mono. Never shipped.
//
// One scene: every live Object is in it; GameObject.Find and
// FindObjectsOfType look there. Unity's messages (Awake, FixedUpdate,
// Update, OnDestroy) are sent by Engine, by name, as Unity would.
// Everything runs on the thread that calls it; nothing is thread-safe.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace UnityEngine
{
    public class Object
    {
        /// <summary>The scene: live objects in creation order.</summary>
        internal static readonly List<Object> Live = new List<Object>();
        internal bool destroyed;

        public string name { get; set; }

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
            return found.ToArray();
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

    public class Component : Object
    {
        internal GameObject owner;

        public GameObject gameObject { get { return owner; } }
        public Transform transform { get { return owner.transform; } }

        public T GetComponent<T>()
        {
            return owner.GetComponent<T>();
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

        public GameObject(string name)
        {
            this.name = name;
            activeSelf = true;
            Live.Add(this);
            transform = AddComponent<Transform>();
        }

        public bool activeSelf { get; private set; }

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

        /// <summary>Adds a component and, as Unity does, sends it Awake at once.</summary>
        public T AddComponent<T>() where T : Component, new()
        {
            T c = new T();
            c.owner = this;
            c.name = name;
            Components.Add(c);
            Live.Add(c);
            if (c is MonoBehaviour) Engine.Send(c, "Awake");
            return c;
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

        public override string ToString()
        {
            return string.Format(CultureInfo.InvariantCulture, "({0:F3}, {1:F3}, {2:F3}, {3:F3})", x, y, z, w);
        }
    }

    public static class Time
    {
        private static readonly Stopwatch Clock = Stopwatch.StartNew();

        public static float realtimeSinceStartup
        {
            get { return (float)Clock.Elapsed.TotalSeconds; }
        }
    }

    public static class Application
    {
        /// <summary>Settable here: the test plays a game of any version.</summary>
        public static string version { get; set; }
        /// <summary>Settable here: "&lt;game&gt;/DRL Simulator_Data/StreamingAssets" in the test's game folder.</summary>
        public static string streamingAssetsPath { get; set; }
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

        /// <summary>Calls the parameterless method <paramref name="message"/> the object's class declares (any visibility), if any.</summary>
        public static void Send(Object o, string message)
        {
            for (Type t = o.GetType(); t != null && t != typeof(MonoBehaviour); t = t.BaseType)
            {
                MethodInfo m = t.GetMethod(message, Instance | BindingFlags.DeclaredOnly, null, Type.EmptyTypes, null);
                if (m == null) continue;
                try
                {
                    m.Invoke(o, null);
                }
                catch (TargetInvocationException e)
                {
                    // Unity logs an exception thrown by a message and goes on with the frame.
                    Console.WriteLine("EXCEPTION in " + t.Name + "." + message + ": " + e.InnerException);
                    Exceptions++;
                }
                return;
            }
        }

        /// <summary>Exceptions thrown out of messages so far (Unity would have logged them).</summary>
        public static int Exceptions { get; private set; }
    }
}
