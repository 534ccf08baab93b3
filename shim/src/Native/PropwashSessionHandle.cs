// The owning handle of one native PwSession. Releasing it calls
// pw_session_free exactly once, also when the wrapper was never disposed
// (then from the finalizer thread, which the ABI allows: free waits for a
// call in flight on another thread, and such calls never block).
using System;
using System.Runtime.InteropServices;

namespace Propwash
{
    internal sealed class PropwashSessionHandle : SafeHandle
    {
        /// <summary>For the marshaller (the <c>out</c> of pw_session_host / pw_session_join).</summary>
        public PropwashSessionHandle()
            : base(IntPtr.Zero, true)
        {
        }

        public override bool IsInvalid
        {
            get { return handle == IntPtr.Zero; }
        }

        protected override bool ReleaseHandle()
        {
            NativeMethods.pw_session_free(handle);
            return true;
        }
    }
}
