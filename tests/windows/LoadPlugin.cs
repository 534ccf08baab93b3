// Loads the packaged plugin under mono, next to the stub assemblies
// (BepInEx, 0Harmony, UnityEngine, ...) that shim/build.sh compiled it
// against: every type of
// Propwash.Shim.dll and Propwash.Native.dll must resolve, with the members'
// signatures. Prints the BepInEx plugin attribute and every P/Invoke, for
// tests/windows.rs to compare with propwash.dll's exports.
using System;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;

public static class LoadPlugin
{
    const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static |
        BindingFlags.Instance | BindingFlags.DeclaredOnly;

    public static int Main(string[] args)
    {
        int failures = 0;
        foreach (string name in new[] { "Propwash.Native.dll", "Propwash.Shim.dll" })
        {
            Assembly asm = Assembly.LoadFrom(Path.Combine(args[0], name));
            Type[] types;
            try
            {
                types = asm.GetTypes();
            }
            catch (ReflectionTypeLoadException e)
            {
                foreach (Exception le in e.LoaderExceptions)
                {
                    Console.WriteLine("error " + name + ": " + le.Message);
                }
                return 1;
            }
            foreach (Type t in types)
            {
                try
                {
                    foreach (CustomAttributeData a in t.GetCustomAttributesData())
                    {
                        if (a.AttributeType.FullName == "BepInEx.BepInPlugin")
                        {
                            Console.WriteLine("plugin " + t.FullName + " guid=" + a.ConstructorArguments[0].Value);
                        }
                    }
                    foreach (FieldInfo f in t.GetFields(All))
                    {
                        GC.KeepAlive(f.FieldType);
                    }
                    foreach (MethodInfo m in t.GetMethods(All))
                    {
                        GC.KeepAlive(m.ReturnType);
                        foreach (ParameterInfo p in m.GetParameters())
                        {
                            GC.KeepAlive(p.ParameterType);
                        }
                        foreach (object a in m.GetCustomAttributes(typeof(DllImportAttribute), false))
                        {
                            DllImportAttribute d = (DllImportAttribute)a;
                            Console.WriteLine("import " + d.Value + " " + (d.EntryPoint ?? m.Name));
                        }
                    }
                }
                catch (Exception e)
                {
                    Console.WriteLine("error " + t.FullName + ": " + e.Message);
                    failures++;
                }
            }
            Console.WriteLine("loaded " + name + " types=" + types.Length);
        }
        return failures == 0 ? 0 : 1;
    }
}
