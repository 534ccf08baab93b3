// Makes [DllImport("propwash")] find propwash.dll next to this plugin. Unity's
// Mono looks in the game's Plugins folder and the process's search path, not
// in BepInEx/plugins/propwash/. Loading the DLL by full path first puts a
// module named propwash.dll in the process, which Windows then hands to the
// DllImport by name. On other platforms the loader's own search applies
// (LD_LIBRARY_PATH / DYLD_LIBRARY_PATH or the game's Plugins folder).
using System;
using System.IO;
using System.Runtime.InteropServices;
using BepInEx.Logging;

namespace Propwash.Shim
{
    internal static class NativeLibrary
    {
        [DllImport("kernel32", CharSet = CharSet.Unicode, SetLastError = true, EntryPoint = "LoadLibraryW")]
        private static extern IntPtr LoadLibrary(string path);

        public static bool Preload(string directory, ManualLogSource log)
        {
            if (Environment.OSVersion.Platform != PlatformID.Win32NT)
            {
                return true;
            }
            string path = Path.Combine(directory, "propwash.dll");
            if (!File.Exists(path))
            {
                log.LogError(path + " is missing: copy propwash.dll next to Propwash.Shim.dll");
                return false;
            }
            if (LoadLibrary(path) == IntPtr.Zero)
            {
                log.LogError("could not load " + path + " (Windows error " + Marshal.GetLastWin32Error() + ")");
                return false;
            }
            return true;
        }
    }
}
