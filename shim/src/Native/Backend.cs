// The backend stand-in (pw_backend_*): the library answers the game's
// requests for its vanished backend on http://127.0.0.1:<Port>/ from the
// game's own files, on a native thread of its own. The plugin starts it
// once and rewrites the game's request URLs to it; nothing here touches
// UnityWebRequest.
using System;
using System.Runtime.InteropServices;

namespace Propwash
{
    /// <summary>The owning handle of one native PwBackend; releasing it calls pw_backend_free once.</summary>
    internal sealed class PropwashBackendHandle : SafeHandle
    {
        /// <summary>For the marshaller (the <c>out</c> of pw_backend_start).</summary>
        public PropwashBackendHandle()
            : base(IntPtr.Zero, true)
        {
        }

        public override bool IsInvalid
        {
            get { return handle == IntPtr.Zero; }
        }

        protected override bool ReleaseHandle()
        {
            NativeMethods.pw_backend_free(handle);
            return true;
        }
    }

    /// <summary>The running stand-in for the game's backend.</summary>
    public sealed class PropwashBackend : IDisposable
    {
        private readonly PropwashBackendHandle handle;

        /// <summary>The loopback port it answers on.</summary>
        public int Port { get; private set; }

        private PropwashBackend(PropwashBackendHandle handle, int port)
        {
            this.handle = handle;
            Port = port;
        }

        /// <summary>
        /// Starts it for the game installed at <paramref name="gameDir"/> (or its data folder).
        /// <paramref name="offlineLicensed"/> is the license answer when Steam cannot be asked;
        /// <paramref name="routesJson"/> corrects the routes table (empty: none). Throws
        /// PropwashException with the library's reason.
        /// </summary>
        public static PropwashBackend Start(string gameDir, string gameVersion, bool offlineLicensed, string routesJson)
        {
            using (Utf8Arg dir = new Utf8Arg(gameDir))
            using (Utf8Arg version = new Utf8Arg(gameVersion))
            using (Utf8Arg routes = new Utf8Arg(routesJson))
            {
                PwBackendOptions o;
                NativeMethods.pw_backend_options_default(out o);
                o.GameDir = dir.Str;
                o.GameVersion = version.Str;
                o.OfflineLicensed = offlineLicensed;
                o.RoutesJson = routes.Str;
                PropwashBackendHandle h;
                ResultCode r = NativeMethods.pw_backend_start(ref o, out h);
                if (r != ResultCode.Ok)
                {
                    if (h != null)
                    {
                        h.Dispose();
                    }
                    throw PropwashException.From(r, "pw_backend_start");
                }
                ushort port;
                ResultCode p = NativeMethods.pw_backend_port(h, out port);
                if (p != ResultCode.Ok)
                {
                    h.Dispose();
                    throw PropwashException.From(p, "pw_backend_port");
                }
                return new PropwashBackend(h, port);
            }
        }

        /// <summary>Stops it (waits for a request being answered, a few seconds at most).</summary>
        public void Dispose()
        {
            handle.Dispose();
        }
    }
}
