/* A stand-in for Windows' bcryptprimitives.dll, for the Wine tests only:
 * Rust's standard library takes its random numbers from ProcessPrng there
 * (Windows 10 and later), and Wine 8 has no such DLL. This one answers
 * through BCryptGenRandom, which Wine has. Never shipped. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x40000000u ? 0x40000000u : (ULONG)len;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG))) {
            return FALSE;
        }
        data += n;
        len -= n;
    }
    return TRUE;
}
