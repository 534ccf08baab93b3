// The per-tick mapping between DRL's drones and pilot frames. Which objects
// carry DRL's drone state, and where its sticks live, has not been checked
// in the game: the local drone is a named GameObject (Transform + Rigidbody),
// remote drones are GameObjects named by a format with the actor number, and
// the sticks come from a pluggable InputSource. Until those are configured,
// nothing is sent or moved. Per tick nothing allocates: objects are looked
// up at most once a second and cached.
using System;
using System.Collections.Generic;
using BepInEx.Logging;
using UnityEngine;

namespace Propwash.Shim
{
    internal sealed class DroneSync
    {
        private const float LookupInterval = 1f;

        private readonly ShimSettings settings;
        private readonly ManualLogSource log;
        private readonly Dictionary<uint, Remote> remotes = new Dictionary<uint, Remote>();
        private Transform local;
        private Rigidbody localBody;
        private float nextLocalLookup;
        private uint tick;

        public Func<PilotInput> InputSource;

        private sealed class Remote
        {
            public Transform Transform;
            public Rigidbody Body;
            public float NextLookup;
        }

        public DroneSync(ShimSettings settings, ManualLogSource log)
        {
            this.settings = settings;
            this.log = log;
        }

        /// <summary>Our drone's state for this physics tick; false while it is not found.</summary>
        public bool Capture(out PilotFrame frame)
        {
            frame = default(PilotFrame);
            if (local == null)
            {
                string name = settings.LocalDroneObject.Value;
                if (string.IsNullOrEmpty(name) || Time.realtimeSinceStartup < nextLocalLookup) return false;
                nextLocalLookup = Time.realtimeSinceStartup + LookupInterval;
                GameObject go = GameObject.Find(name);
                if (go == null) return false;
                local = go.transform;
                localBody = go.GetComponent<Rigidbody>();
                log.LogInfo("local drone: " + name + (localBody == null ? " (no Rigidbody: velocities sent as zero)" : ""));
            }
            frame.Tick = ++tick;
            Vector3 p = local.position;
            Quaternion q = local.rotation;
            frame.Position = new Vec3(p.x, p.y, p.z);
            frame.Rotation = new Quat(q.x, q.y, q.z, q.w);
            if (localBody != null)
            {
                Vector3 v = localBody.velocity, w = localBody.angularVelocity;
                frame.Velocity = new Vec3(v.x, v.y, v.z);
                frame.AngularVelocity = new Vec3(w.x, w.y, w.z);
            }
            if (InputSource != null) frame.Input = InputSource();
            return true;
        }

        /// <summary>Moves each remote pilot's drone object, if one is configured and found.</summary>
        public void Apply(PilotState[] states, int count)
        {
            string format = settings.RemoteDroneObjectFormat.Value;
            if (string.IsNullOrEmpty(format)) return;
            for (int i = 0; i < count; i++)
            {
                Remote r = Find(states[i].Actor, format);
                if (r == null || r.Transform == null) continue;
                PilotFrame f = states[i].Frame;
                r.Transform.position = new Vector3(f.Position.X, f.Position.Y, f.Position.Z);
                r.Transform.rotation = new Quaternion(f.Rotation.X, f.Rotation.Y, f.Rotation.Z, f.Rotation.W);
                if (r.Body != null && !r.Body.isKinematic)
                {
                    r.Body.velocity = new Vector3(f.Velocity.X, f.Velocity.Y, f.Velocity.Z);
                    r.Body.angularVelocity = new Vector3(f.AngularVelocity.X, f.AngularVelocity.Y, f.AngularVelocity.Z);
                }
            }
        }

        private Remote Find(uint actor, string format)
        {
            Remote r;
            if (!remotes.TryGetValue(actor, out r))
            {
                r = new Remote();
                remotes[actor] = r;
            }
            if (r.Transform == null && Time.realtimeSinceStartup >= r.NextLookup)
            {
                r.NextLookup = Time.realtimeSinceStartup + LookupInterval;
                GameObject go = GameObject.Find(string.Format(format, actor));
                if (go != null)
                {
                    r.Transform = go.transform;
                    r.Body = go.GetComponent<Rigidbody>();
                }
            }
            return r;
        }

        public void Forget(uint actor)
        {
            remotes.Remove(actor);
        }

        public void Reset()
        {
            remotes.Clear();
            local = null;
            localBody = null;
            tick = 0;
        }
    }
}
