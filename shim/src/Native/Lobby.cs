// The lobby list before joining (pw_lobby_*): a browser with its own native
// socket and thread asks the coordinator for pages of rooms; answers are
// polled as JSON. Joining a room found here is PropwashSession.Join with
// JoinOptions.CoordinatorAddress and SessionId.
//
// Threads: every call returns at once; use one browser from one thread (a
// concurrent call answers BUSY, thrown as PropwashException).
using System;
using System.Text;

namespace Propwash
{
    /// <summary>The owning handle of one native PwLobby; releasing it calls pw_lobby_free once.</summary>
    internal sealed class PropwashLobbyHandle : System.Runtime.InteropServices.SafeHandle
    {
        /// <summary>For the marshaller (the <c>out</c> of pw_lobby_open).</summary>
        public PropwashLobbyHandle()
            : base(IntPtr.Zero, true)
        {
        }

        public override bool IsInvalid
        {
            get { return handle == IntPtr.Zero; }
        }

        protected override bool ReleaseHandle()
        {
            NativeMethods.pw_lobby_free(handle);
            return true;
        }
    }

    /// <summary>Browses a coordinator's lobby list (only rooms of this game build and protocol).</summary>
    public sealed class PropwashLobby : IDisposable
    {
        private readonly PropwashLobbyHandle handle;
        private byte[] buffer = new byte[4096];

        private PropwashLobby(PropwashLobbyHandle handle)
        {
            this.handle = handle;
        }

        /// <summary>Opens a browser for the coordinator at <paramref name="coordinatorAddress"/> (<c>ip:port</c>).</summary>
        public static PropwashLobby Open(string coordinatorAddress, string gameVersion)
        {
            using (Utf8Arg c = new Utf8Arg(coordinatorAddress))
            using (Utf8Arg v = new Utf8Arg(gameVersion))
            {
                PropwashLobbyHandle h;
                ResultCode r = NativeMethods.pw_lobby_open(c.Str, v.Str, out h);
                if (r != ResultCode.Ok)
                {
                    if (h != null)
                    {
                        h.Dispose();
                    }
                    throw PropwashException.From(r, "pw_lobby_open");
                }
                return new PropwashLobby(h);
            }
        }

        /// <summary>
        /// Asks for a page of rooms; <paramref name="queryJson"/> is empty or e.g.
        /// <c>{"mode":"race","min_free_pilots":1,"limit":20}</c>. Returns the id the answer carries.
        /// </summary>
        public uint List(string queryJson)
        {
            ThrowIfDisposed();
            using (Utf8Arg q = new Utf8Arg(queryJson))
            {
                uint id;
                ResultCode r = NativeMethods.pw_lobby_list(handle, q.Str, out id);
                if (r != ResultCode.Ok)
                {
                    throw PropwashException.From(r, "pw_lobby_list");
                }
                return id;
            }
        }

        /// <summary>
        /// The next answer as JSON: <c>{"kind":"list_result","request_id":..,"total":..,"sessions":[...]}</c>
        /// or <c>{"kind":"list_failed","request_id":..,"message":".."}</c>. False when none waits.
        /// </summary>
        public bool TryPoll(out string json)
        {
            ThrowIfDisposed();
            for (;;)
            {
                UIntPtr len;
                ResultCode r = NativeMethods.pw_lobby_poll(handle, ref buffer[0], (UIntPtr)(uint)buffer.Length, out len);
                if (r == ResultCode.Ok)
                {
                    json = Encoding.UTF8.GetString(buffer, 0, (int)len);
                    return true;
                }
                if (r == ResultCode.Empty)
                {
                    json = null;
                    return false;
                }
                if (r != ResultCode.BufferTooSmall)
                {
                    throw PropwashException.From(r, "pw_lobby_poll");
                }
                // The answer is kept: grow and ask again.
                buffer = new byte[Math.Max((int)len, buffer.Length * 2)];
            }
        }

        /// <summary>True once Dispose ran.</summary>
        public bool IsDisposed
        {
            get { return handle.IsClosed; }
        }

        /// <summary>Closes the browser; its native thread ends on its own.</summary>
        public void Dispose()
        {
            handle.Dispose();
        }

        private void ThrowIfDisposed()
        {
            if (handle.IsClosed)
            {
                throw new ObjectDisposedException("PropwashLobby");
            }
        }
    }
}
