// FAKE 0Harmony.dll for tests/plugin.rs: a working stand-in for the
// HarmonyX 2.x members Propwash.Shim uses (the surface of
// shim/stubs/Harmony.cs, with bodies, plus a few more of HarmonyX's
// AccessTools). Nothing is rewritten: Patch checks a prefix's parameters
// the way HarmonyX 2.4.2 on mono 6.8 accepts or refuses them (a refusal
// throws HarmonyException "IL Compile Error (unknown location)" as the real
// one does, with the reason in the inner exception) and records it; a fake
// target method (tests/plugin/Photon3Unity3D.cs) runs its prefixes itself
// through Harmony.Call. Prefixes only. Never shipped.
//
// What HarmonyX 2.4.2 on mono accepts in a prefix:
//   __instance      any reference type (not checked against the instance);
//                   a value type is refused
//   __originalMethod MethodBase (or a base of it)
//   __result        the original's return type or object, by ref or not
//                   (object boxes a value-type result); anything else, and
//                   any __result on a void method, is refused
//   __state         anything (a prefix-only patch just gets a default)
//   __0, __1, ...   the argument at that index (out of range: refused)
//   a name          the original's parameter of that name (unknown: refused)
//   For arguments: the original's type or object (boxed), by ref or not;
//   a value type where the original has a reference type, or a different
//   struct, is refused; int-sized primitives and enums interchange (byte
//   <-> int); a reference type where the original differs is accepted by
//   HarmonyX (it passes a mistyped object): here Call throws when that
//   happens, since no real prefix could use it.
//   __args (HarmonyX 2.8+), other "__" names and "___field" injections are
//   refused; a prefix must be static and return void or bool.
using System;
using System.Collections.Generic;
using System.Reflection;
using System.Runtime.ExceptionServices;

namespace HarmonyLib
{
    /// <summary>What HarmonyX throws when a patch cannot be built.</summary>
    public class HarmonyException : Exception
    {
        public HarmonyException(string message) : base(message) { }
        public HarmonyException(string message, Exception inner) : base(message, inner) { }
    }

    public class Harmony
    {
        private sealed class Prefix
        {
            public string Owner;
            public MethodInfo Method;
            public MethodBase Original;
        }

        /// <summary>A method by its metadata identity, whichever type it was reflected from.</summary>
        private struct Key : IEquatable<Key>
        {
            public Module Module;
            public int Token;

            public static Key Of(MethodBase m)
            {
                return new Key { Module = m.Module, Token = m.MetadataToken };
            }

            public bool Equals(Key other)
            {
                return Token == other.Token && Module == other.Module;
            }

            public override bool Equals(object obj)
            {
                return obj is Key && Equals((Key)obj);
            }

            public override int GetHashCode()
            {
                return Token ^ Module.GetHashCode();
            }
        }

        private static readonly object Gate = new object();
        private static readonly Dictionary<Key, List<Prefix>> Patches = new Dictionary<Key, List<Prefix>>();

        public Harmony(string id)
        {
            if (string.IsNullOrEmpty(id)) throw new ArgumentException("a Harmony id is required");
            Id = id;
        }

        public string Id { get; private set; }

        public MethodInfo Patch(MethodBase original, HarmonyMethod prefix = null, HarmonyMethod postfix = null, HarmonyMethod transpiler = null, HarmonyMethod finalizer = null)
        {
            if (original == null) throw new ArgumentNullException("original");
            if (postfix != null || transpiler != null || finalizer != null) throw new NotSupportedException("the fake Harmony runs prefixes only");
            if (prefix != null)
            {
                string refused = Refusal(original, prefix.method);
                if (refused != null)
                {
                    throw new HarmonyException("IL Compile Error (unknown location)", new InvalidProgramException(
                        "the prefix " + prefix.method.DeclaringType.Name + "." + prefix.method.Name + " on " + original.DeclaringType.Name + "." + original.Name + ": " + refused));
                }
                lock (Gate)
                {
                    List<Prefix> list;
                    Key key = Key.Of(original);
                    if (!Patches.TryGetValue(key, out list)) Patches[key] = list = new List<Prefix>();
                    list.Add(new Prefix { Owner = Id, Method = prefix.method, Original = original });
                }
            }
            return original as MethodInfo;
        }

        /// <summary>Removes one patch method from one original, whoever added it (as HarmonyX does).</summary>
        public void Unpatch(MethodBase original, MethodInfo patch)
        {
            lock (Gate)
            {
                List<Prefix> list;
                if (Patches.TryGetValue(Key.Of(original), out list)) list.RemoveAll(p => p.Method == patch);
            }
        }

        public void UnpatchSelf()
        {
            lock (Gate)
            {
                foreach (List<Prefix> list in Patches.Values) list.RemoveAll(p => p.Owner == Id);
            }
        }

        /// <summary>The methods this instance has patched.</summary>
        public IEnumerable<MethodBase> GetPatchedMethods()
        {
            List<MethodBase> mine = new List<MethodBase>();
            lock (Gate)
            {
                foreach (List<Prefix> list in Patches.Values)
                {
                    Prefix p = list.Find(x => x.Owner == Id);
                    if (p != null) mine.Add(p.Original);
                }
            }
            return mine;
        }

        /// <summary>Not Harmony: the methods that have a prefix now.</summary>
        public static List<MethodBase> PatchedMethods()
        {
            List<MethodBase> all = new List<MethodBase>();
            lock (Gate)
            {
                foreach (List<Prefix> list in Patches.Values)
                {
                    if (list.Count > 0) all.Add(list[0].Original);
                }
            }
            return all;
        }

        /// <summary>Not Harmony: whether <paramref name="original"/> has a prefix now.</summary>
        public static bool IsPatched(MethodBase original)
        {
            lock (Gate)
            {
                List<Prefix> list;
                return Patches.TryGetValue(Key.Of(original), out list) && list.Count > 0;
            }
        }

        /// <summary>
        /// Not Harmony: what a patched <paramref name="original"/> does when called: its prefixes in
        /// patch order (each gets __instance, __result, __originalMethod, __state and arguments by
        /// index or name), then <paramref name="body"/> unless a prefix returned false. Returns
        /// __result (the body's value when it ran; a void method gives null). A prefix that changes a
        /// by-ref argument while the original still runs is not modelled (NotSupportedException).
        /// </summary>
        public static object Call(MethodBase original, object instance, object[] args, Func<object> body)
        {
            Type returns = ReturnType(original);
            object result = returns == typeof(void) || !returns.IsValueType ? null : Activator.CreateInstance(returns);
            bool runOriginal = true;
            bool argsChanged = false;
            Prefix[] prefixes = null;
            lock (Gate)
            {
                List<Prefix> list;
                if (Patches.TryGetValue(Key.Of(original), out list) && list.Count > 0) prefixes = list.ToArray();
            }
            ParameterInfo[] originals = original.GetParameters();
            if (prefixes != null)
            {
                foreach (Prefix p in prefixes)
                {
                    ParameterInfo[] ps = p.Method.GetParameters();
                    object[] values = new object[ps.Length];
                    int resultAt = -1;
                    int[] argAt = new int[ps.Length];
                    for (int i = 0; i < ps.Length; i++)
                    {
                        argAt[i] = -1;
                        Type t = Element(ps[i].ParameterType);
                        switch (ps[i].Name)
                        {
                            case "__instance":
                                values[i] = Typed(t, instance, "__instance");
                                break;
                            case "__originalMethod":
                                values[i] = original;
                                break;
                            case "__state":
                                values[i] = t.IsValueType ? Activator.CreateInstance(t) : null;
                                break;
                            case "__result":
                                values[i] = result;
                                resultAt = i;
                                break;
                            default:
                                int at = ArgumentIndex(original, ps[i].Name);
                                argAt[i] = at;
                                values[i] = Argument(t, Element(originals[at].ParameterType), args[at], ps[i].Name);
                                break;
                        }
                    }
                    object r;
                    try
                    {
                        r = p.Method.Invoke(null, values);
                    }
                    catch (TargetInvocationException e)
                    {
                        ExceptionDispatchInfo.Capture(e.InnerException).Throw();
                        throw;
                    }
                    if (resultAt >= 0 && ps[resultAt].ParameterType.IsByRef) result = values[resultAt];
                    for (int i = 0; i < ps.Length; i++)
                    {
                        if (argAt[i] < 0 || !ps[i].ParameterType.IsByRef) continue;
                        if (!Equals(values[i], Argument(Element(ps[i].ParameterType), Element(originals[argAt[i]].ParameterType), args[argAt[i]], ps[i].Name)))
                        {
                            argsChanged = true;
                        }
                    }
                    if (r is bool && !(bool)r) runOriginal = false;
                }
            }
            if (runOriginal)
            {
                if (argsChanged) throw new NotSupportedException("the fake Harmony cannot hand an argument a prefix changed to " + original.Name);
                object r = body();
                if (returns != typeof(void)) result = r;
            }
            return result;
        }

        private static Type Element(Type t)
        {
            return t.IsByRef ? t.GetElementType() : t;
        }

        private static Type ReturnType(MethodBase m)
        {
            MethodInfo mi = m as MethodInfo;
            return mi == null ? typeof(void) : mi.ReturnType;
        }

        /// <summary>The index of the original's argument a prefix parameter names (__n or its name), or -1.</summary>
        private static int ArgumentIndex(MethodBase original, string name)
        {
            ParameterInfo[] ps = original.GetParameters();
            int n;
            if (name.StartsWith("__", StringComparison.Ordinal) && int.TryParse(name.Substring(2), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out n))
            {
                return n >= 0 && n < ps.Length ? n : -1;
            }
            for (int i = 0; i < ps.Length; i++)
            {
                if (ps[i].Name == name) return i;
            }
            return -1;
        }

        /// <summary>A reference the prefix declared with a type HarmonyX does not check: throw when it would be mistyped.</summary>
        private static object Typed(Type declared, object value, string what)
        {
            if (value == null || declared.IsInstanceOfType(value)) return value;
            throw new InvalidCastException("HarmonyX would hand the prefix's " + what + " (declared " + declared.Name + ") a " + value.GetType().Name + " unconverted");
        }

        /// <summary>An argument as the prefix declared it: the value, boxed, or an int-sized primitive converted.</summary>
        private static object Argument(Type declared, Type original, object value, string what)
        {
            if (declared == original || declared == typeof(object) || value == null) return value;
            if (declared.IsValueType)
            {
                // Only int-sized primitives / enums reach here (Refusal let them through).
                Type to = declared.IsEnum ? Enum.GetUnderlyingType(declared) : declared;
                object converted = Convert.ChangeType(Convert.ToInt64(value is Enum ? Convert.ChangeType(value, Enum.GetUnderlyingType(value.GetType())) : value), to);
                return declared.IsEnum ? Enum.ToObject(declared, converted) : converted;
            }
            return Typed(declared, value, what);
        }

        private static bool IntSized(Type t)
        {
            if (t.IsEnum) t = Enum.GetUnderlyingType(t);
            return t == typeof(bool) || t == typeof(char) || t == typeof(byte) || t == typeof(sbyte) || t == typeof(short)
                || t == typeof(ushort) || t == typeof(int) || t == typeof(uint);
        }

        /// <summary>Why HarmonyX 2.4.2 would refuse this prefix on this original, or null when it patches.</summary>
        private static string Refusal(MethodBase original, MethodInfo prefix)
        {
            if (!prefix.IsStatic) return "a prefix must be static";
            if (prefix.ReturnType != typeof(void) && prefix.ReturnType != typeof(bool)) return "a prefix returns void or bool, not " + prefix.ReturnType.Name;
            Type returns = ReturnType(original);
            ParameterInfo[] originals = original.GetParameters();
            foreach (ParameterInfo p in prefix.GetParameters())
            {
                Type t = Element(p.ParameterType);
                switch (p.Name)
                {
                    case "__instance":
                        if (t.IsValueType) return "__instance is a value type (" + t.Name + ")";
                        continue;
                    case "__originalMethod":
                        if (!t.IsAssignableFrom(typeof(MethodBase))) return "__originalMethod must be a MethodBase";
                        continue;
                    case "__state":
                        continue;
                    case "__result":
                        if (returns == typeof(void)) return "__result on the void method " + original.Name;
                        bool fits = p.ParameterType.IsByRef ? t == returns || t == typeof(object) : t.IsAssignableFrom(returns);
                        if (!fits) return "__result is a " + t.Name + ", " + original.Name + " returns a " + returns.Name + " (only that type or object)";
                        continue;
                    case "__args":
                        return "__args does not exist before HarmonyX 2.8";
                }
                int at = ArgumentIndex(original, p.Name);
                if (at < 0)
                {
                    if (p.Name.StartsWith("___", StringComparison.Ordinal)) return "field injection (" + p.Name + ") is not modelled by the fake";
                    if (p.Name.StartsWith("__", StringComparison.Ordinal) && !char.IsDigit(p.Name[2])) return "HarmonyX injects nothing called " + p.Name;
                    return "Parameter \"" + p.Name + "\" not found in method " + original.Name;
                }
                Type o = Element(originals[at].ParameterType);
                if (t == o || t == typeof(object)) continue;
                if (t.IsValueType)
                {
                    if (!o.IsValueType) return p.Name + " is a value type (" + t.Name + ") for the reference-type argument " + o.Name;
                    if (!(IntSized(t) && IntSized(o))) return p.Name + " is a " + t.Name + " for the " + o.Name + " argument";
                }
            }
            return null;
        }
    }

    public class HarmonyMethod
    {
        public MethodInfo method;

        public HarmonyMethod(MethodInfo method)
        {
            if (method == null) throw new ArgumentNullException("method");
            this.method = method;
        }

        public HarmonyMethod(Type methodType, string methodName, Type[] argumentTypes = null)
            : this(AccessTools.Method(methodType, methodName, argumentTypes))
        {
        }
    }

    public static class AccessTools
    {
        private const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;

        /// <summary>By full name, then by simple name, in every loaded assembly; null when absent.</summary>
        public static Type TypeByName(string name)
        {
            Type t = Type.GetType(name, false);
            if (t != null) return t;
            List<Type> all = new List<Type>();
            foreach (Assembly a in AppDomain.CurrentDomain.GetAssemblies())
            {
                Type[] types;
                try
                {
                    types = a.GetTypes();
                }
                catch (ReflectionTypeLoadException e)
                {
                    types = e.Types;
                }
                foreach (Type x in types)
                {
                    if (x != null) all.Add(x);
                }
            }
            Type byName = all.Find(x => x.FullName == name);
            return byName ?? all.Find(x => x.Name == name);
        }

        public static List<MethodInfo> GetDeclaredMethods(Type type)
        {
            return new List<MethodInfo>(type.GetMethods(All | BindingFlags.DeclaredOnly));
        }

        /// <summary>The method of that name on the type or a base type; AmbiguousMatchException for overloads without <paramref name="parameters"/>.</summary>
        public static MethodInfo Method(Type type, string name, Type[] parameters = null, Type[] generics = null)
        {
            for (Type t = type; t != null; t = t.BaseType)
            {
                MethodInfo m = DeclaredMethod(t, name, parameters, generics);
                if (m != null) return m;
            }
            return null;
        }

        public static MethodInfo DeclaredMethod(Type type, string name, Type[] parameters = null, Type[] generics = null)
        {
            if (type == null || name == null) return null;
            MethodInfo m = parameters == null
                ? type.GetMethod(name, All | BindingFlags.DeclaredOnly)
                : type.GetMethod(name, All | BindingFlags.DeclaredOnly, null, parameters, null);
            if (m == null) return null;
            return generics == null ? m : m.MakeGenericMethod(generics);
        }

        public static PropertyInfo Property(Type type, string name)
        {
            for (Type t = type; t != null; t = t.BaseType)
            {
                PropertyInfo p = DeclaredProperty(t, name);
                if (p != null) return p;
            }
            return null;
        }

        public static PropertyInfo DeclaredProperty(Type type, string name)
        {
            return type == null || name == null ? null : type.GetProperty(name, All | BindingFlags.DeclaredOnly);
        }

        public static MethodInfo PropertyGetter(Type type, string name)
        {
            PropertyInfo p = Property(type, name);
            return p == null ? null : p.GetGetMethod(true);
        }

        public static MethodInfo PropertySetter(Type type, string name)
        {
            PropertyInfo p = Property(type, name);
            return p == null ? null : p.GetSetMethod(true);
        }

        public static FieldInfo Field(Type type, string name)
        {
            for (Type t = type; t != null; t = t.BaseType)
            {
                FieldInfo f = t.GetField(name, All | BindingFlags.DeclaredOnly);
                if (f != null) return f;
            }
            return null;
        }
    }
}
