using System.ComponentModel.DataAnnotations;
using Edge.Capture;
using Edge.Tests;
using OpenCvSharp;

namespace Edge.Capture.Tests;

/// <summary>
/// Which sources each policy lets through, checked before anything is opened: URL schemes, cameras, and for the
/// service, files only under its roots with links and ".." resolved. The folder tree is real: files, a link that
/// leaves the root, a linked folder, a missing file on each side of the boundary.
/// </summary>
public sealed class SourcePolicyTests : IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();
    private readonly string _root;
    private readonly string _outside;
    private readonly SourcePolicy _service;

    public SourcePolicyTests()
    {
        // root/clips/clip.avi (a real video), root/clips/frame.png, root/inner.avi -> clips/clip.avi (stays inside),
        // root/escape.avi -> outside/secret.avi, root/outdir -> outside/, outside/secret.avi, outside/secret.png.
        _root = Directory.CreateDirectory(Path.Combine(_folder, "root")).FullName;
        _outside = Directory.CreateDirectory(Path.Combine(_folder, "outside")).FullName;
        var clips = Directory.CreateDirectory(Path.Combine(_root, "clips")).FullName;
        File.Copy(TestData.VtestShort, Path.Combine(clips, "clip.avi"));
        File.Copy(TestData.VtestShort, Path.Combine(_outside, "secret.avi"));
        using (var capture = new VideoCapture(TestData.VtestShort))
        using (var image = new Mat())
        {
            capture.Read(image);
            Cv2.ImWrite(Path.Combine(clips, "frame.png"), image);
            Cv2.ImWrite(Path.Combine(_outside, "secret.png"), image);
        }
        File.CreateSymbolicLink(Path.Combine(_root, "inner.avi"), Path.Combine("clips", "clip.avi"));
        File.CreateSymbolicLink(Path.Combine(_root, "escape.avi"), Path.Combine(_outside, "secret.avi"));
        Directory.CreateSymbolicLink(Path.Combine(_root, "outdir"), _outside);
        _service = SourcePolicy.ForService(new SourcesOptions { FileRoots = [_root] });
    }

    public static TheoryData<string, SourceKind?, string?> CommandLineCases => new()
    {
        { "rtsp://cam.local:554/live", SourceKind.Network, "rtsp,rtp,udp,tcp" },
        { "RTSP://cam.local/live", SourceKind.Network, "rtsp,rtp,udp,tcp" },
        { "rtsps://cam.local/live", SourceKind.Network, "rtsp,rtsps,rtp,udp,tcp,tls" },
        { "http://cam.local/video.mjpg", SourceKind.Network, "http,https,tcp,tls" },
        { "https://cam.local/live.m3u8", SourceKind.Network, "http,https,tcp,tls" },
        { "0", SourceKind.Camera, null },
        { "/dev/video2", SourceKind.Camera, null },
        { "clips/missing.avi", SourceKind.File, null },
        // Not a camera: V4L2 on that path would tell which files exist. On the command line it is just a path.
        { "/dev/video0/../../etc/passwd", SourceKind.File, null },
        { "file:///etc/passwd", null, "'file:' sources are not allowed; allowed URL schemes: http, https, rtsp, rtsps (Sources:Schemes)" },
        { "FILE:/etc/passwd", null, "'file:' sources are not allowed" },
        { "concat:/etc/passwd|/etc/shadow", null, "'concat:' sources are not allowed" },
        { "subfile:,start,0,end,100,:/etc/passwd", null, "'subfile:' sources are not allowed" },
        { "data:video/mp4;base64,AAAA", null, "'data:' sources are not allowed" },
        { "pipe:0", null, "'pipe:' sources are not allowed" },
        { "tcp://127.0.0.1:22", null, "'tcp:' sources are not allowed" },
        { "udp://0.0.0.0:1234", null, "'udp:' sources are not allowed" },
        { "lavfi:testsrc", null, "'lavfi:' sources are not allowed" },
        { "gopher://cam.local/", null, "'gopher:' sources are not allowed" },
        { "rtsp:/cam.local/live", null, "not a rtsp://host/... URL: rtsp:/cam.local/live" },
        { "rtsp:///live", null, "not a rtsp://host/... URL" },
        { "rtsp://cam.local/live\nfile '/etc/passwd'", null, "the source contains control characters" },
        { "http://cam.local/a b", null, "not a http://host/... URL" },
    };

    [Theory]
    [MemberData(nameof(CommandLineCases))]
    public void Check_CommandLinePolicy_AllowsStreamsCamerasAndFilesOnly(string source, SourceKind? kind, string? expected)
    {
        var result = Record.Exception(() => SourcePolicy.CommandLine.Check(source));
        if (kind is null)
        {
            var error = Assert.IsType<CaptureException>(result);
            Assert.Equal(CaptureError.Refused, error.Error);
            Assert.StartsWith("source refused: ", error.Message, StringComparison.Ordinal);
            Assert.Contains(expected!, error.Message, StringComparison.Ordinal);
            return;
        }
        Assert.Null(result);
        var allowed = SourcePolicy.CommandLine.Check(source);
        Assert.Equal(kind, allowed.Kind);
        Assert.Equal(expected, allowed.ProtocolWhitelist);
        // The command line opens what the user named, as written.
        Assert.Equal(source, allowed.OpenPath);
    }

    [Fact]
    public void Check_UrlWithCredentials_LocationIsRedactedAndOpenPathKeepsThem()
    {
        var allowed = SourcePolicy.CommandLine.Check("rtsp://admin:s3cret@cam.local/live?pwd=s3cret");
        Assert.Equal("rtsp://***@cam.local/live?pwd=***", allowed.Location);
        Assert.Equal("rtsp://admin:s3cret@cam.local/live?pwd=s3cret", allowed.OpenPath);
        Assert.Equal("rtsp", allowed.Scheme);
    }

    [Theory]
    [InlineData("root/clips/clip.avi", SourceKind.File, "root/clips/clip.avi")]
    [InlineData("root/clips", SourceKind.ImageFolder, "root/clips")]
    [InlineData("root/clips/missing.avi", SourceKind.File, "root/clips/missing.avi")]
    // A link that stays inside is followed: the file opened is its target.
    [InlineData("root/inner.avi", SourceKind.File, "root/clips/clip.avi")]
    [InlineData("root/clips/../clips/./clip.avi", SourceKind.File, "root/clips/clip.avi")]
    public void Check_ServicePolicy_FileUnderTheRoot_IsAllowedAtItsResolvedPath(string relative, SourceKind kind, string opened)
    {
        var allowed = _service.Check(Path.Combine(_folder, relative));
        Assert.Equal(kind, allowed.Kind);
        Assert.Equal(Path.Combine(_folder, opened), allowed.OpenPath);
    }

    [Theory]
    [InlineData("outside/secret.avi")]
    [InlineData("outside/missing.avi")]
    [InlineData("root/../outside/secret.avi")]
    [InlineData("root/clips/../../outside/secret.avi")]
    [InlineData("root/escape.avi")]
    [InlineData("root/outdir/secret.avi")]
    [InlineData("root/outdir/missing.avi")]
    [InlineData("root/outdir")]
    // ".." after a linked folder is taken from the link's target, as the kernel does: outside/../ is the temp folder.
    [InlineData("root/outdir/../outside/secret.avi")]
    [InlineData("/etc/passwd")]
    public void Check_ServicePolicy_PathLeavingTheRoot_IsRefusedWhetherOrNotItExists(string path)
    {
        var source = Path.IsPathRooted(path) ? path : Path.Combine(_folder, path);
        var error = Assert.Throws<CaptureException>(() => _service.Check(source));
        Assert.Equal(CaptureError.Refused, error.Error);
        // One message for every case: it says nothing about what exists outside.
        Assert.Equal($"source refused: files are read only from the folders in Sources:FileRoots: {source}", error.Message);
    }

    [Fact]
    public void Check_ServicePolicyWithoutRoots_RefusesEveryFileButNotStreams()
    {
        var policy = SourcePolicy.ForService(new SourcesOptions());
        var error = Assert.Throws<CaptureException>(() => policy.Check(TestData.VtestShort));
        Assert.Equal($"source refused: files are not allowed for this stream (no folder in Sources:FileRoots): {TestData.VtestShort}", error.Message);
        Assert.Equal(SourceKind.Network, policy.Check("rtsp://cam.local/live").Kind);
        Assert.Equal(SourceKind.Camera, policy.Check("/dev/video0").Kind);
        Assert.Throws<CaptureException>(() => policy.Check("/dev/video0/../../etc/passwd"));
    }

    [Fact]
    public void ForService_RootGivenThroughALink_AllowsTheFilesOfItsTarget()
    {
        var link = Path.Combine(_folder, "root-link");
        Directory.CreateSymbolicLink(link, _root);
        var policy = SourcePolicy.ForService(new SourcesOptions { FileRoots = [link] });
        Assert.Equal([_root], policy.FileRoots);
        Assert.Equal(Path.Combine(_root, "clips", "clip.avi"), policy.Check(Path.Combine(_root, "clips", "clip.avi")).OpenPath);
        Assert.Equal(Path.Combine(_root, "clips", "clip.avi"), policy.Check(Path.Combine(link, "clips", "clip.avi")).OpenPath);
    }

    [Fact]
    public void Check_PolicyWithOtherSchemesAndNoCameras_FollowsItsOptions()
    {
        var policy = SourcePolicy.ForCommandLine(new SourcesOptions { Schemes = "rtsp, TCP", AllowCameras = false });
        Assert.Equal("tcp", policy.Check("tcp://127.0.0.1:9000").ProtocolWhitelist);
        Assert.Equal(SourceKind.Network, policy.Check("rtsp://cam.local/live").Kind);
        Assert.Contains("'http:' sources are not allowed; allowed URL schemes: rtsp, tcp",
            Assert.Throws<CaptureException>(() => policy.Check("http://cam.local/v.mjpg")).Message, StringComparison.Ordinal);
        Assert.Equal("source refused: cameras are not allowed (Sources:AllowCameras): 0",
            Assert.Throws<CaptureException>(() => policy.Check("0")).Message);
        // The command line still reads any file.
        Assert.Equal(SourceKind.File, policy.Check(Path.Combine(_outside, "secret.avi")).Kind);
    }

    public static TheoryData<string, string[], string?> OptionCases => new()
    {
        { "rtsp,rtsps,http,https", [], null },
        { "rtsp, udp , srt", [], null },
        { "", [], null },
        { "rtsp,file", [], "Sources:Schemes: 'file' cannot be allowed; supported: rtsp, rtsps, http, https, rtmp, rtmps, tcp, udp, rtp, srt" },
        { "concat", [], "Sources:Schemes: 'concat' cannot be allowed" },
        { "rtsp;http", [], "Sources:Schemes is a comma-separated list of URL schemes" },
        { "rtsp", ["/nonexistent-edge-root"], "Sources:FileRoots:0: folder not found: /nonexistent-edge-root" },
        { "rtsp", [" "], "Sources:FileRoots:0: a folder path is needed" },
    };

    [Theory]
    [MemberData(nameof(OptionCases))]
    public void Validate_Options_RejectsWhatCannotBeAllowed(string schemes, string[] roots, string? expected)
    {
        var options = new SourcesOptions { Schemes = schemes, FileRoots = [.. roots] };
        var error = Record.Exception(options.Validate);
        if (expected is null)
        {
            Assert.Null(error);
            Assert.True(new SourcesOptionsValidator().Validate(null, options).Succeeded);
            return;
        }
        Assert.IsType<ValidationException>(error);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Throws<ValidationException>(() => SourcePolicy.ForService(options));
    }

    [Fact]
    public void Open_FileUrl_IsRefusedBeforeAnythingIsOpened()
    {
        // ffmpeg would decode this file through its file: protocol (and show it in a preview).
        var error = Assert.Throws<CaptureException>(() => FrameSources.Open("file://" + TestData.VtestShort, new CaptureOptions()));
        Assert.Equal(CaptureError.Refused, error.Error);
        Assert.StartsWith("source refused: 'file:' sources are not allowed", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("concat:{0}|{0}")]
    [InlineData("subfile:,start,0,end,0,:{0}")]
    [InlineData("file:{0}")]
    public void Open_FfmpegProtocolSource_IsRefusedWithItsScheme(string format)
    {
        var source = string.Format(System.Globalization.CultureInfo.InvariantCulture, format, TestData.VtestShort);
        var error = Assert.Throws<CaptureException>(() => FrameSources.Open(source, new CaptureOptions()));
        Assert.Equal(CaptureError.Refused, error.Error);
        Assert.Contains($"'{source[..source.IndexOf(':', StringComparison.Ordinal)]}:' sources are not allowed", error.Message, StringComparison.Ordinal);
        Assert.Throws<CaptureException>(() => FrameSources.OpenLive(source, new CaptureOptions(), new ReconnectOptions()));
    }

    [Fact]
    public void OpenLive_ServicePolicy_FileOutsideTheRootIsRefusedAtOnceAndInsideItPlays()
    {
        var error = Assert.Throws<CaptureException>(() => FrameSources.OpenLive(Path.Combine(_root, "escape.avi"), new CaptureOptions(),
            new ReconnectOptions(), loop: true, policy: _service));
        Assert.Equal(CaptureError.Refused, error.Error);

        using var source = FrameSources.OpenLive(Path.Combine(_root, "inner.avi"), new CaptureOptions { MaxFrames = 3 },
            new ReconnectOptions(), loop: true, policy: _service);
        Assert.Equal(Path.Combine(_root, "inner.avi"), source.Info.Location);
        using var pool = new FramePool(1);
        var count = 0;
        while (source.Read(pool, CancellationToken.None) is { } frame)
        {
            using (frame)
            {
                Assert.Equal(new Size(768, 576), frame.Image.Size());
                count++;
            }
        }
        Assert.Equal(3, count);
        Assert.Equal(0, source.Status.Reconnects);
    }

    [Fact]
    public void Open_ServicePolicy_FileThroughALinkOutIsRefusedAndTheCommandLineStillOpensIt()
    {
        var escape = Path.Combine(_root, "escape.avi");
        Assert.Equal(CaptureError.Refused,
            Assert.Throws<CaptureException>(() => FrameSources.Open(escape, new CaptureOptions(), policy: _service)).Error);
        using var source = FrameSources.Open(escape, new CaptureOptions());
        Assert.Equal(50, source.Info.FrameCount);
    }

    [Fact]
    public void Open_ServicePolicy_ImageFolderLeavesOutImagesLinkedFromOutside()
    {
        var clips = Path.Combine(_root, "clips");
        File.CreateSymbolicLink(Path.Combine(clips, "leak.png"), Path.Combine(_outside, "secret.png"));
        using (var strict = (ImageFolderSource)FrameSources.Open(clips, new CaptureOptions(), policy: _service))
        {
            Assert.Equal(1, strict.Info.FrameCount);
        }
        using var open = (ImageFolderSource)FrameSources.Open(clips, new CaptureOptions());
        Assert.Equal(2, open.Info.FrameCount);
    }

    [Theory]
    [InlineData("rtsp://cam.local/live", true, false)]
    [InlineData("concat:/a|/b", true, false)]
    [InlineData("0", false, true)]
    [InlineData("/dev/video12", false, true)]
    [InlineData("-1", false, false)]
    [InlineData("/dev/video0/../../etc/passwd", false, false)]
    [InlineData("clips/a.avi", false, false)]
    [InlineData("./concat:a.avi", false, false)]
    public void IsUrlAndIsCamera_Source_ClassifyAsThePolicyDoes(string source, bool url, bool camera)
    {
        Assert.Equal((url, camera), (FrameSources.IsUrl(source), FrameSources.IsCamera(source)));
    }

    [Fact]
    public void StreamIdFor_CredentialsInThePath_AreNotInTheId()
    {
        Assert.Equal("10.0.0.9-user____", FrameSources.StreamIdFor("rtsp://10.0.0.9:554/user=admin_password=s3cret_channel=1.sdp"));
        Assert.Equal("cam.local-live", FrameSources.StreamIdFor("rtsp://admin:s3cret@cam.local/live?pwd=s3cret"));
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
