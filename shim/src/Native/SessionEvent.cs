// One polled event. Its data is a view into the session's reusable event
// buffer: valid until the next TryPollEvent on the same session. Copy it
// (CopyData / Text) to keep it longer.
using System;
using System.Text;

namespace Propwash
{
    public struct SessionEvent
    {
        /// <summary>What happened.</summary>
        public readonly EventKind Kind;
        /// <summary>Refused: a RefuseReason; PlayerLeft and Closed: a CloseReason.</summary>
        public readonly uint Reason;
        /// <summary>Welcomed and PlayerJoined: the seat.</summary>
        public readonly Role Role;
        /// <summary>The player concerned (Welcomed: us; GameEvent: the sender; PropertiesChanged: who changed them).</summary>
        public readonly uint Actor;
        /// <summary>PropertiesChanged: 0 for the room, else whose properties changed.</summary>
        public readonly uint Target;
        /// <summary>Welcomed: the master client; PlayerLeft: the new master when the leaver was it, else 0.</summary>
        public readonly uint Master;
        /// <summary>PropertiesRefused: the request's id.</summary>
        public readonly uint Request;
        /// <summary>GameEvent: the game's event code.</summary>
        public readonly byte Code;
        /// <summary>TrackReady: true when the track was downloaded just now.</summary>
        public readonly bool Downloaded;
        /// <summary>PropertiesChanged: it was a check-and-set.</summary>
        public readonly bool Cas;
        /// <summary>TrackProgress: bytes of the track written so far.</summary>
        public readonly ulong Received;
        /// <summary>TrackProgress: bytes in the whole track.</summary>
        public readonly ulong Total;
        /// <summary>The payload (GameEvent), a binary layout (Welcomed, PlayerJoined, PropertiesChanged: see <see cref="RoomCodec"/>) or text (Refused, TrackReady, TrackFailed, RequestFailed, PropertiesRefused).</summary>
        public readonly ArraySegment<byte> Data;

        internal SessionEvent(PwEvent header, ArraySegment<byte> data)
        {
            Kind = header.Kind;
            Reason = header.Reason;
            Role = header.Role;
            Actor = header.Actor;
            Target = header.Target;
            Master = header.Master;
            Request = header.Request;
            Code = header.Code;
            Downloaded = header.Downloaded;
            Cas = header.Cas;
            Received = header.Received;
            Total = header.Total;
            Data = data;
        }

        public CloseReason CloseReason
        {
            get { return Kind == EventKind.PlayerLeft || Kind == EventKind.Closed ? (CloseReason)Reason : CloseReason.None; }
        }

        public RefuseReason RefuseReason
        {
            get { return (RefuseReason)Reason; }
        }

        /// <summary>The data as UTF-8 text (allocates).</summary>
        public string Text()
        {
            return Data.Array == null ? "" : Encoding.UTF8.GetString(Data.Array, Data.Offset, Data.Count);
        }

        /// <summary>A copy of the data that outlives the next poll (allocates).</summary>
        public byte[] CopyData()
        {
            byte[] copy = new byte[Data.Count];
            if (Data.Count > 0)
            {
                Buffer.BlockCopy(Data.Array, Data.Offset, copy, 0, Data.Count);
            }
            return copy;
        }

        public override string ToString()
        {
            return Kind + " actor=" + Actor + " code=" + Code + " reason=" + Reason + " role=" + Role + " bytes=" + Data.Count;
        }
    }
}
