using System.Diagnostics;

namespace Edge.Tests;

/// <summary>
/// A test certificate authority and the certificates it signs, made by the real openssl command line in a folder of
/// their own, as an operator would make them: PEM files of a CA, a server certificate for 127.0.0.1 and localhost,
/// and a client certificate. Each call of <see cref="Create"/> makes a new, unrelated CA. Disposing deletes the folder.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private TestCertificates(string folder) => Folder = folder;

    public string Folder { get; }

    public string CaFile => Path.Combine(Folder, "ca.pem");

    public string ServerCertificate => Path.Combine(Folder, "server.pem");

    public string ServerKey => Path.Combine(Folder, "server.key");

    public string ClientCertificate => Path.Combine(Folder, "client.pem");

    public string ClientKey => Path.Combine(Folder, "client.key");

    public static TestCertificates Create()
    {
        var certificates = new TestCertificates(TestData.NewTempFolder());
        var f = certificates.Folder;
        File.WriteAllText(Path.Combine(f, "server.ext"), "subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n");
        File.WriteAllText(Path.Combine(f, "client.ext"), "extendedKeyUsage = clientAuth\n");
        OpenSsl(f, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Edge test CA");
        foreach (var (name, subject) in new[] { ("server", "/CN=127.0.0.1"), ("client", "/CN=edge-test-device") })
        {
            OpenSsl(f, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", $"{name}.key", "-out", $"{name}.csr", "-subj", subject);
            OpenSsl(f, "x509", "-req", "-in", $"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", $"{name}.pem", "-days", "2", "-extfile", $"{name}.ext");
        }
        return certificates;
    }

    private static void OpenSsl(string folder, params string[] args)
    {
        var info = new ProcessStartInfo("openssl") { WorkingDirectory = folder, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException("openssl could not be started");
        var stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"openssl {string.Join(' ', args)} failed: {stderr.Result}");
        }
    }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}
