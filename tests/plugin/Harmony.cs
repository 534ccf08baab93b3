// FAKE 0Harmony.dll for tests/plugin.rs: a working stand-in for the
// HarmonyX 2.x members Propwash.Shim uses (the surface of
// shim/stubs/Harmony.cs, with bodies). Nothing is rewritten: Patch checks
// the prefix's injected parameters as Harmony would (a mismatch throws, as
// a failed patch does) and records it; a fake target method runs its
// prefixes itself through Harmony.Call. Prefixes only. Never shipped.
using System;
using System.Collections.Generic;
using System.Reflection;
using System.Runtime.ExceptionServices;

namespace HarmonyLib
{
    public class Harmony
    {
        private sealed class Prefix
        {
            public string Owner;
            public MethodInfo Method;
        }

        private static readonly Dictionary<MethodBase, List<Prefix>> Patches = new Dictionary<MethodBase, List<Prefix>>();

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
                Check(original, prefix.method);
                List<Prefix> list;
                if (!Patches.TryGetValue(original, out list)) Patches[original] = list = new List<Prefix>();
                list.Add(new Prefix { Owner = Id, Method = prefix.method });
            }
            return original as MethodInfo;
        }

        public void UnpatchSelf()
        {
            foreach (List<Prefix> list in Patches.Values) list.RemoveAll(p => p.Owner == Id);
        }

        /// <summary>Not Harmony: the methods that have a prefix now.</summary>
        public static List<MethodBase> PatchedMethods()
        {
            List<MethodBase> all = new List<MethodBase>();
            foreach (KeyValuePair<MethodBase, List<Prefix>> kv in Patches)
            {
                if (kv.Value.Count > 0) all.Add(kv.Key);
            }
            return all;
        }

        /// <summary>
        /// Not Harmony: what a patched <paramref name="original"/> does when called: its prefixes in
        /// patch order (__instance, __args, __result, __originalMethod and the original's parameters
        /// by name), then <paramref name="body"/> unless a prefix returned false. Returns __result.
        /// </summary>
        public static object Call(MethodBase original, object instance, object[] args, Func<object> body)
        {
            Type returns = ReturnType(original);
            object result = returns == typeof(void) || !returns.IsValueType ? null : Activator.CreateInstance(returns);
            bool runOriginal = true;
            List<Prefix> list;
            if (Patches.TryGetValue(original, out list))
            {
                foreach (Prefix p in list.ToArray())
                {
                    ParameterInfo[] ps = p.Method.GetParameters();
                    object[] values = new object[ps.Length];
                    int resultAt = -1;
                    for (int i = 0; i < ps.Length; i++)
                    {
                        switch (ps[i].Name)
                        {
                            case "__instance": values[i] = instance; break;
                            case "__args": values[i] = args; break;
                            case "__originalMethod": values[i] = original; break;
                            case "__result": values[i] = result; resultAt = i; break;
                            default: values[i] = args[IndexOf(original, ps[i].Name)]; break;
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
                    if (resultAt >= 0) result = values[resultAt];
                    if (r is bool && !(bool)r) runOriginal = false;
                }
            }
            if (runOriginal)
            {
                object r = body();
                if (returns != typeof(void)) result = r;
            }
            return result;
        }

        private static Type ReturnType(MethodBase m)
        {
            MethodInfo mi = m as MethodInfo;
            return mi == null ? typeof(void) : mi.ReturnType;
        }

        private static int IndexOf(MethodBase original, string name)
        {
            ParameterInfo[] ps = original.GetParameters();
            for (int i = 0; i < ps.Length; i++)
            {
                if (ps[i].Name == name) return i;
            }
            return -1;
        }

        /// <summary>Harmony's checks of a prefix against its target; throws as a failed patch does.</summary>
        private static void Check(MethodBase original, MethodInfo prefix)
        {
            if (!prefix.IsStatic) throw new ArgumentException("the prefix " + prefix.Name + " is not static");
            if (prefix.ReturnType != typeof(void) && prefix.ReturnType != typeof(bool)) throw new ArgumentException("a prefix returns void or bool, not " + prefix.ReturnType.Name);
            Type returns = ReturnType(original);
            foreach (ParameterInfo p in prefix.GetParameters())
            {
                Type t = p.ParameterType.IsByRef ? p.ParameterType.GetElementType() : p.ParameterType;
                switch (p.Name)
                {
                    case "__instance":
                        if (!original.IsStatic && !t.IsAssignableFrom(original.DeclaringType)) throw new InvalidCastException("__instance is a " + t.Name + ", the instance a " + original.DeclaringType.Name);
                        break;
                    case "__args":
                        if (t != typeof(object[])) throw new InvalidCastException("__args must be object[]");
                        break;
                    case "__originalMethod":
                        if (!t.IsAssignableFrom(typeof(MethodBase))) throw new InvalidCastException("__originalMethod must be MethodBase");
                        break;
                    case "__result":
                        if (returns == typeof(void)) throw new InvalidOperationException("Cannot get result from void method " + original.Name);
                        if (p.ParameterType.IsByRef ? t != returns && t != typeof(object) : !t.IsAssignableFrom(returns))
                        {
                            throw new InvalidCastException("__result is a " + t.Name + ", " + original.Name + " returns a " + returns.Name);
                        }
                        break;
                    default:
                        if (p.Name.StartsWith("__", StringComparison.Ordinal))
                        {
                            throw new NotSupportedException("the fake Harmony does not inject " + p.Name);
                        }
                        int at = IndexOf(original, p.Name);
                        if (at < 0) throw new ArgumentException("Parameter \"" + p.Name + "\" not found in method " + original.Name);
                        if (!t.IsAssignableFrom(original.GetParameters()[at].ParameterType)) throw new InvalidCastException(p.Name + " has another type than the original's");
                        break;
                }
            }
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
                MethodInfo m = parameters == null
                    ? t.GetMethod(name, All | BindingFlags.DeclaredOnly)
                    : t.GetMethod(name, All | BindingFlags.DeclaredOnly, null, parameters, null);
                if (m == null) continue;
                return generics == null ? m : m.MakeGenericMethod(generics);
            }
            return null;
        }
    }
}
