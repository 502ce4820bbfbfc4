#!/usr/bin/perl
# Builds a small MaxMind-format database (GeoIP2-City layout) for pg_pulse's enrichment tests
# and demo with libmaxmind-db-writer-perl (Debian). Reads tab-separated lines from stdin:
#   network  country_iso  region  city  latitude  longitude  time_zone  [asn  as_org]
# (empty columns are left out of the record; a network is "a.b.c.d/nn" or "x:y::/nn").
#   make_mmdb.pl OUT.mmdb [DATABASE_TYPE] < ranges.tsv
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my ($out, $type) = @ARGV;
die "usage: $0 OUT.mmdb [DATABASE_TYPE] < ranges.tsv\n" unless $out;
$type ||= 'PulseTest-City';

my %types = (
    country => 'map', iso_code => 'utf8_string', names => 'map', en => 'utf8_string',
    subdivisions => ['array', 'map'], city => 'map', location => 'map',
    latitude => 'double', longitude => 'double', time_zone => 'utf8_string',
    autonomous_system_number => 'uint32', autonomous_system_organization => 'utf8_string',
);
my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version => 6,
    record_size => 28,
    database_type => $type,
    languages => ['en'],
    description => { en => 'pg_pulse test database' },
    map_key_type_callback => sub { $types{ $_[0] } },
    remove_reserved_networks => 0,
    alias_ipv6_to_ipv4 => 1,
);
binmode STDIN, ":encoding(UTF-8)";
my $n = 0;
while (my $line = <STDIN>) {
    chomp $line;
    next if $line =~ /^\s*(#|$)/;
    my ($net, $cc, $region, $city, $lat, $lon, $tz, $asn, $org) = split /\t/, $line, -1;
    my %rec;
    $rec{country} = { iso_code => $cc } if defined $cc && $cc ne '';
    $rec{subdivisions} = [ { names => { en => $region } } ] if defined $region && $region ne '';
    $rec{city} = { names => { en => $city } } if defined $city && $city ne '';
    my %loc;
    $loc{latitude} = $lat + 0 if defined $lat && $lat ne '';
    $loc{longitude} = $lon + 0 if defined $lon && $lon ne '';
    $loc{time_zone} = $tz if defined $tz && $tz ne '';
    $rec{location} = \%loc if %loc;
    $rec{autonomous_system_number} = $asn + 0 if defined $asn && $asn ne '';
    $rec{autonomous_system_organization} = $org if defined $org && $org ne '';
    $tree->insert_network($net, \%rec);
    $n++;
}
open my $fh, '>:raw', "$out.tmp" or die "cannot write $out.tmp: $!\n";
$tree->write_tree($fh);
close $fh or die "cannot write $out.tmp: $!\n";
rename "$out.tmp", $out or die "cannot rename to $out: $!\n";
print STDERR "$out: $n networks\n";
