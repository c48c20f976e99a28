using Edge.Host.Web;
using Edge.Tests;

namespace Edge.Host.Tests.Web;

/// <summary>The token <c>edge run</c> generates on loopback when Web:ApiToken is not set, kept in the data directory.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class WebTokenFileTests : IDisposable
{
    private readonly string _data = Path.Combine(TestData.NewTempFolder(), "service");

    [Fact]
    public void Resolve_FirstStart_CreatesFileMode0600ThenReusesIt()
    {
        var first = WebToken.Resolve(new WebOptions(), _data, out var created);
        var path = Path.Combine(_data, WebToken.FileName);
        Assert.Equal(path, created);
        Assert.False(first.Configured);
        Assert.Equal(43, first.Value.Length); // 256 random bits, base64url
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(first.Value + "\n", File.ReadAllText(path));

        var restart = WebToken.Resolve(new WebOptions(), _data, out var createdAgain);
        Assert.Null(createdAgain); // shown once: a restart does not print it again
        Assert.Equal(first, restart);

        Assert.NotEqual(first.Value, WebToken.Resolve(new WebOptions(), Path.Combine(_data, "other"), out _).Value);
    }

    [Fact]
    public void Resolve_FileReadableByOthers_NarrowedTo0600()
    {
        Directory.CreateDirectory(_data);
        var path = Path.Combine(_data, WebToken.FileName);
        File.WriteAllText(path, "kept-token-0123456789\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        Assert.Equal("kept-token-0123456789", WebToken.Resolve(new WebOptions(), _data, out var created).Value);
        Assert.Null(created);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public void Resolve_EmptyFile_ConfigErrorNamingTheFile()
    {
        Directory.CreateDirectory(_data);
        var path = Path.Combine(_data, WebToken.FileName);
        File.WriteAllText(path, "\n");
        var error = Assert.Throws<ConfigException>(() => WebToken.Resolve(new WebOptions(), _data, out _));
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_Configured_UsedAndNoFileWritten()
    {
        var token = WebToken.Resolve(new WebOptions { ApiToken = "configured-0123456789" }, _data, out var created);
        Assert.Equal(new WebToken("configured-0123456789", Configured: true), token);
        Assert.Null(created);
        Assert.False(File.Exists(Path.Combine(_data, WebToken.FileName)));
    }

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(_data)!, recursive: true);
}
