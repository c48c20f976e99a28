using Edge.Capture;

namespace Edge.Capture.Tests;

/// <summary>The one redaction function, on what Capture shows: URLs as users write them and ffmpeg's messages.</summary>
public sealed class RedactionTests
{
    public static TheoryData<string, string> Cases => new()
    {
        // User information, including passwords with unencoded delimiters.
        { "rtsp://admin:secret@cam.local:554/live", "rtsp://***@cam.local:554/live" },
        { "rtsp://admin@cam.local/live", "rtsp://***@cam.local/live" },
        { "rtsp://admin:pa/ss@cam.local/live", "rtsp://***@cam.local/live" },
        { "rtsp://admin:pa?ss#x@cam.local:554/live", "rtsp://***@cam.local:554/live" },
        { "rtsp://viewer:it's-S3cret@127.0.0.1:8554/test", "rtsp://***@127.0.0.1:8554/test" },
        { "rtsp://admin:p@ss@cam.local/live: Connection refused; http://u:v@10.0.0.2/a@b",
            "rtsp://***@cam.local/live: Connection refused; http://***@10.0.0.2/a@b" },
        // Nothing to hide: left as it is.
        { "rtsp://cam.local/live", "rtsp://cam.local/live" },
        { "http://10.0.0.2:8080/a@b", "http://10.0.0.2:8080/a@b" },
        { "/data/clips/vtest.avi", "/data/clips/vtest.avi" },
        { "http://cam/video.mjpg?channel=1&subtype=0&fps=10", "http://cam/video.mjpg?channel=1&subtype=0&fps=10" },
        { "[tcp @ 0x55] Connection to tcp://127.0.0.1:554?timeout=0 failed: Connection refused",
            "[tcp @ 0x55] Connection to tcp://127.0.0.1:554?timeout=0 failed: Connection refused" },
        { "pipe:0: Server returned 401 Unauthorized (authorization failed)", "pipe:0: Server returned 401 Unauthorized (authorization failed)" },
        { "", "" },
        // Credential-like query keys, any case, with prefixes and suffixes.
        { "http://cam/video.cgi?user=admin&pwd=s3cret&channel=1", "http://cam/video.cgi?user=***&pwd=***&channel=1" },
        { "http://cam/snap.jpg?USERNAME=admin&PassWord=s3cret", "http://cam/snap.jpg?USERNAME=***&PassWord=***" },
        { "rtsp://cam/live?pass=1&passwd=2&password=3&token=4&key=5&apikey=6&auth=7&secret=8&sig=9&signature=10",
            "rtsp://cam/live?pass=***&passwd=***&password=***&token=***&key=***&apikey=***&auth=***&secret=***&sig=***&signature=***" },
        { "https://api.example/v?x-api-key=abc123&fps=10", "https://api.example/v?x-api-key=***&fps=10" },
        { "https://h/v.m3u8?access_token=eyJhbGciOi.e30.sig&quality=hd", "https://h/v.m3u8?access_token=***&quality=hd" },
        { "https://bucket.s3/v.mp4?X-Amz-Credential=AKIA%2F2024&X-Amz-Expires=60&X-Amz-Signature=deadbeef",
            "https://bucket.s3/v.mp4?X-Amz-Credential=***&X-Amz-Expires=60&X-Amz-Signature=***" },
        { "rtsp://cam/live;user=admin;pwd=s3cret", "rtsp://cam/live;user=***;pwd=***" },
        // A camera that takes its credentials in the path: the rest of the segment goes too.
        { "rtsp://10.0.0.9:554/user=admin_password=tlJwpbo6_channel=1_stream=0.sdp", "rtsp://10.0.0.9:554/user=***" },
        // Both at once, inside one of ffmpeg's messages.
        { "[concat @ 0x5] Impossible to open 'rtsp://viewer:wrong@127.0.0.1:8554/test?user=viewer&pwd=wrong'",
            "[concat @ 0x5] Impossible to open 'rtsp://***@127.0.0.1:8554/test?user=***&pwd=***'" },
        { "Authorization: Basic dmlld2VyOnMzY3JldA==", "Authorization: Basic ***" },
        { "Digest username=\"admin\", realm=\"cam\"", "Digest username=***, realm=\"cam\"" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Redact_Text_HidesEveryCredential(string text, string expected)
    {
        Assert.Equal(expected, Redaction.Redact(text));
        // Redacting twice changes nothing: callers need not know whether a string already passed through.
        Assert.Equal(expected, Redaction.Redact(Redaction.Redact(text)));
        // The older entry point is the same function.
        Assert.Equal(expected, VideoCaptureSource.Redact(text));
    }

    [Fact]
    public void CaptureException_MessageAndDetail_AreRedacted()
    {
        var error = new CaptureException(CaptureError.Unreachable, "cannot open rtsp://admin:s3cret@cam/live?pwd=s3cret",
            "ffmpeg: Impossible to open 'rtsp://admin:s3cret@cam/live?pwd=s3cret'");
        Assert.Equal("cannot open rtsp://***@cam/live?pwd=***", error.Message);
        Assert.Equal("ffmpeg: Impossible to open 'rtsp://***@cam/live?pwd=***'", error.Detail);
    }
}
