// PUN's own send and serialization rates, found by name: PUN Classic's
// PhotonNetwork.sendRate / sendRateOnSerialize, or PUN 2's
// Photon.Pun.PhotonNetwork.SendRate / SerializationRate. PUN's defaults
// (20 / 10 Hz) are low for drones; unless Rates.FollowGameRates is set,
// propwash raises them to Rates.SendHz once the game connects.
using System;
using System.Globalization;
using System.Reflection;
using HarmonyLib;

namespace Propwash.Shim
{
    internal static class GameRates
    {
        private const BindingFlags Static = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static;

        private static PropertyInfo Find(string classic, string pun2)
        {
            Type t = AccessTools.TypeByName("PhotonNetwork");
            PropertyInfo p = t == null ? null : t.GetProperty(classic, Static);
            if (p != null) return p;
            t = AccessTools.TypeByName("Photon.Pun.PhotonNetwork");
            return t == null ? null : t.GetProperty(pun2, Static);
        }

        /// <summary>The game's serialization rate per second (PUN's default 10 when it cannot be read).</summary>
        public static int Serialization()
        {
            try
            {
                PropertyInfo p = Find("sendRateOnSerialize", "SerializationRate");
                return p == null ? 10 : Convert.ToInt32(p.GetValue(null, null), CultureInfo.InvariantCulture);
            }
            catch (Exception)
            {
                return 10;
            }
        }

        /// <summary>Sets both rates to <paramref name="hz"/> (send first: PUN wants serialization at most the send rate); says what happened.</summary>
        public static string Raise(int hz)
        {
            try
            {
                PropertyInfo send = Find("sendRate", "SendRate");
                PropertyInfo serialize = Find("sendRateOnSerialize", "SerializationRate");
                if (send == null || serialize == null || !send.CanWrite || !serialize.CanWrite)
                {
                    return "PUN's send rates were not found; the game's own stay (view updates at its rate)";
                }
                send.SetValue(null, hz, null);
                serialize.SetValue(null, hz, null);
                return "PUN's send and serialization rates set to " + hz + " Hz (Rates.SendHz; Rates.FollowGameRates keeps the game's)";
            }
            catch (Exception e)
            {
                return "PUN's send rates could not be set (" + e.GetBaseException().Message + "); the game's own stay";
            }
        }
    }
}
