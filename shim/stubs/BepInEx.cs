// STUB reference assembly: only the BepInEx 5.4 members Propwash.Shim uses,
// so the plugin type-checks here. Never shipped: the real build references
// the game's BepInEx/core/BepInEx.dll. Bodies throw; nothing here ever runs.
using System;

namespace BepInEx
{
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
    public class BepInPlugin : Attribute
    {
        public BepInPlugin(string GUID, string Name, string Version) { }
    }

    public abstract class BaseUnityPlugin : UnityEngine.MonoBehaviour
    {
        protected BepInEx.Logging.ManualLogSource Logger { get { throw null; } }
        public BepInEx.Configuration.ConfigFile Config { get { throw null; } }
    }

    public static class Paths
    {
        public static string ConfigPath { get { throw null; } }
    }
}

namespace BepInEx.Configuration
{
    public class ConfigFile
    {
        public ConfigEntry<T> Bind<T>(string section, string key, T defaultValue, string description) { throw null; }
        public ConfigEntry<T> Bind<T>(string section, string key, T defaultValue, ConfigDescription configDescription = null) { throw null; }
    }

    public abstract class ConfigEntryBase
    {
        public event EventHandler SettingChanged { add { } remove { } }
    }

    public sealed class ConfigEntry<T> : ConfigEntryBase
    {
        public T Value { get { throw null; } set { } }
    }

    public class ConfigDescription
    {
        public ConfigDescription(string description, AcceptableValueBase acceptableValues = null, params object[] tags) { }
    }

    public abstract class AcceptableValueBase
    {
    }

    public class AcceptableValueRange<T> : AcceptableValueBase where T : IComparable
    {
        public AcceptableValueRange(T minValue, T maxValue) { }
    }
}

namespace BepInEx.Logging
{
    public class ManualLogSource
    {
        public void LogDebug(object data) { }
        public void LogInfo(object data) { }
        public void LogMessage(object data) { }
        public void LogWarning(object data) { }
        public void LogError(object data) { }
        public void LogFatal(object data) { }
    }
}
