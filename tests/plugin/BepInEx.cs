// FAKE BepInEx.dll for tests/plugin.rs: a working stand-in for the BepInEx
// 5.4 members Propwash.Shim uses (the surface of shim/stubs/BepInEx.cs,
// with bodies). As in BepInEx, a plugin's Config is read from
// BepInEx/config/<GUID>.cfg (section headers, "Key = Value", # comments)
// and its Logger writes "[Level:Source] text" lines. Never shipped.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;

namespace BepInEx
{
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
    public class BepInPlugin : Attribute
    {
        public BepInPlugin(string GUID, string Name, string Version)
        {
            this.GUID = GUID;
            this.Name = Name;
            this.Version = Version;
        }

        public string GUID { get; private set; }
        public string Name { get; private set; }
        public string Version { get; private set; }
    }

    public abstract class BaseUnityPlugin : UnityEngine.MonoBehaviour
    {
        protected BaseUnityPlugin()
        {
            BepInPlugin meta = (BepInPlugin)Attribute.GetCustomAttribute(GetType(), typeof(BepInPlugin));
            if (meta == null) throw new InvalidOperationException(GetType().FullName + " has no [BepInPlugin]");
            Logger = new BepInEx.Logging.ManualLogSource(meta.Name);
            Config = new BepInEx.Configuration.ConfigFile(Path.Combine(Paths.ConfigPath, meta.GUID + ".cfg"), false);
        }

        protected BepInEx.Logging.ManualLogSource Logger { get; private set; }
        public BepInEx.Configuration.ConfigFile Config { get; private set; }
    }

    public static class Paths
    {
        /// <summary>&lt;game&gt;/BepInEx/config.</summary>
        public static string ConfigPath { get; private set; }

        /// <summary>Not BepInEx: where the game is (BepInEx finds it from the process).</summary>
        public static void SetGameRoot(string root)
        {
            ConfigPath = Path.Combine(Path.Combine(root, "BepInEx"), "config");
        }
    }
}

namespace BepInEx.Configuration
{
    public class ConfigFile
    {
        private readonly Dictionary<string, string> fileValues = new Dictionary<string, string>();
        private readonly Dictionary<string, ConfigEntryBase> entries = new Dictionary<string, ConfigEntryBase>();

        public ConfigFile(string configPath, bool saveOnInit)
        {
            ConfigFilePath = configPath;
            if (!File.Exists(configPath)) return;
            string section = "";
            foreach (string raw in File.ReadAllLines(configPath))
            {
                string line = raw.Trim();
                if (line.Length == 0 || line.StartsWith("#", StringComparison.Ordinal)) continue;
                if (line.StartsWith("[", StringComparison.Ordinal) && line.EndsWith("]", StringComparison.Ordinal))
                {
                    section = line.Substring(1, line.Length - 2).Trim();
                    continue;
                }
                int eq = line.IndexOf('=');
                if (eq <= 0) continue;
                fileValues[section + "." + line.Substring(0, eq).Trim()] = line.Substring(eq + 1).Trim();
            }
        }

        public string ConfigFilePath { get; private set; }

        public ConfigEntry<T> Bind<T>(string section, string key, T defaultValue, string description)
        {
            return Bind(section, key, defaultValue, new ConfigDescription(description));
        }

        /// <summary>As BepInEx: binding a key again gives the same entry; the file's value wins over the default.</summary>
        public ConfigEntry<T> Bind<T>(string section, string key, T defaultValue, ConfigDescription configDescription = null)
        {
            string id = section + "." + key;
            ConfigEntryBase existing;
            if (entries.TryGetValue(id, out existing))
            {
                ConfigEntry<T> same = existing as ConfigEntry<T>;
                if (same == null) throw new ArgumentException(id + " is already bound as a " + existing.SettingType.Name);
                return same;
            }
            ConfigEntry<T> entry = new ConfigEntry<T>(configDescription, defaultValue);
            string text;
            if (fileValues.TryGetValue(id, out text)) entry.Value = (T)Parse(text, typeof(T));
            entries[id] = entry;
            return entry;
        }

        private static object Parse(string text, Type t)
        {
            if (t == typeof(string)) return text;
            if (t.IsEnum) return Enum.Parse(t, text, true);
            return Convert.ChangeType(text, t, CultureInfo.InvariantCulture);
        }
    }

    public abstract class ConfigEntryBase
    {
        public event EventHandler SettingChanged;

        public abstract Type SettingType { get; }

        protected void OnSettingChanged()
        {
            EventHandler handler = SettingChanged;
            if (handler != null) handler(this, EventArgs.Empty);
        }
    }

    public sealed class ConfigEntry<T> : ConfigEntryBase
    {
        private readonly ConfigDescription description;
        private T value;

        internal ConfigEntry(ConfigDescription description, T defaultValue)
        {
            this.description = description;
            value = Clamp(defaultValue);
        }

        public override Type SettingType { get { return typeof(T); } }

        /// <summary>As BepInEx: clamped to the acceptable values; SettingChanged when it changes.</summary>
        public T Value
        {
            get { return value; }
            set
            {
                T v = Clamp(value);
                if (Equals(v, this.value)) return;
                this.value = v;
                OnSettingChanged();
            }
        }

        private T Clamp(T v)
        {
            AcceptableValueBase range = description == null ? null : description.AcceptableValues;
            return range == null ? v : (T)range.Clamp(v);
        }
    }

    public class ConfigDescription
    {
        public ConfigDescription(string description, AcceptableValueBase acceptableValues = null, params object[] tags)
        {
            Description = description;
            AcceptableValues = acceptableValues;
        }

        public string Description { get; private set; }
        public AcceptableValueBase AcceptableValues { get; private set; }
    }

    public abstract class AcceptableValueBase
    {
        public abstract object Clamp(object value);
    }

    public class AcceptableValueRange<T> : AcceptableValueBase where T : IComparable
    {
        private readonly T min, max;

        public AcceptableValueRange(T minValue, T maxValue)
        {
            min = minValue;
            max = maxValue;
        }

        public override object Clamp(object value)
        {
            T v = (T)value;
            if (min.CompareTo(v) > 0) return min;
            if (max.CompareTo(v) < 0) return max;
            return v;
        }
    }
}

namespace BepInEx.Logging
{
    public class ManualLogSource
    {
        /// <summary>Not BepInEx: every line any source logged, as "Level text", for the test to look at.</summary>
        public static readonly List<string> Recorded = new List<string>();

        public ManualLogSource(string sourceName)
        {
            SourceName = sourceName;
        }

        public string SourceName { get; private set; }

        public void LogDebug(object data) { Log("Debug", data); }
        public void LogInfo(object data) { Log("Info", data); }
        public void LogMessage(object data) { Log("Message", data); }
        public void LogWarning(object data) { Log("Warning", data); }
        public void LogError(object data) { Log("Error", data); }
        public void LogFatal(object data) { Log("Fatal", data); }

        private void Log(string level, object data)
        {
            string text = data == null ? "" : data.ToString();
            Recorded.Add(level + " " + text);
            Console.WriteLine("[" + level.PadRight(7) + ":" + SourceName + "] " + text);
        }
    }
}
