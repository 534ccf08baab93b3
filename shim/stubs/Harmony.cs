// STUB reference assembly: only the HarmonyX 2.x members (BepInEx 5.4's
// 0Harmony.dll) Propwash.Shim uses, so the plugin type-checks here. Never
// shipped: the real build references BepInEx/core/0Harmony.dll. Bodies
// throw; nothing here ever runs.
using System;
using System.Collections.Generic;
using System.Reflection;

namespace HarmonyLib
{
    public class Harmony
    {
        public Harmony(string id) { }
        public MethodInfo Patch(MethodBase original, HarmonyMethod prefix = null, HarmonyMethod postfix = null, HarmonyMethod transpiler = null, HarmonyMethod finalizer = null) { throw null; }
        public void Unpatch(MethodBase original, MethodInfo patch) { }
        public void UnpatchSelf() { }
    }

    public class HarmonyMethod
    {
        public HarmonyMethod(MethodInfo method) { }
    }

    public static class AccessTools
    {
        public static Type TypeByName(string name) { throw null; }
        public static List<MethodInfo> GetDeclaredMethods(Type type) { throw null; }
        public static MethodInfo Method(Type type, string name, Type[] parameters = null, Type[] generics = null) { throw null; }
    }
}
