// STUB reference assembly: only the UnityEngine members Propwash.Shim uses,
// so the plugin type-checks on a machine without Unity. Never shipped: the
// real build references the game's DRL Simulator_Data/Managed/UnityEngine*.dll
// (in Unity 2020.3 these types live in UnityEngine.CoreModule.dll and
// UnityEngine.PhysicsModule.dll). Bodies throw; nothing here ever runs.
using System;

namespace UnityEngine
{
    public class Object
    {
        public string name { get { throw null; } set { } }
        public static Object[] FindObjectsOfType(Type type) { throw null; }
        public static bool operator ==(Object x, Object y) { throw null; }
        public static bool operator !=(Object x, Object y) { throw null; }
        public override bool Equals(object other) { throw null; }
        public override int GetHashCode() { throw null; }
    }

    public class Component : Object
    {
        public GameObject gameObject { get { throw null; } }
        public Transform transform { get { throw null; } }
        public T GetComponent<T>() { throw null; }
    }

    public class Behaviour : Component
    {
        public bool enabled { get { throw null; } set { } }
    }

    public class MonoBehaviour : Behaviour
    {
    }

    public sealed class GameObject : Object
    {
        public static GameObject Find(string name) { throw null; }
        public Transform transform { get { throw null; } }
        public T GetComponent<T>() { throw null; }
    }

    public class Transform : Component
    {
        public Vector3 position { get { throw null; } set { } }
        public Quaternion rotation { get { throw null; } set { } }
    }

    public sealed class Rigidbody : Component
    {
        public Vector3 velocity { get { throw null; } set { } }
        public Vector3 angularVelocity { get { throw null; } set { } }
        public bool isKinematic { get { throw null; } set { } }
    }

    public struct Vector3
    {
        public float x;
        public float y;
        public float z;
        public Vector3(float x, float y, float z) { this.x = x; this.y = y; this.z = z; }
    }

    public struct Quaternion
    {
        public float x;
        public float y;
        public float z;
        public float w;
        public Quaternion(float x, float y, float z, float w) { this.x = x; this.y = y; this.z = z; this.w = w; }
    }

    public static class Time
    {
        public static float realtimeSinceStartup { get { throw null; } }
    }

    public static class Application
    {
        public static string version { get { throw null; } }
        public static string streamingAssetsPath { get { throw null; } }
    }
}
